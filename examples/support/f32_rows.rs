//! Shared by the benchmark examples: reading raw vector files.

use std::path::Path;

/// The rows of a raw vector file: little-endian float32, row-major, `dim` columns.
pub fn read_f32(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if dim == 0 || bytes.len() % (4 * dim) != 0 {
        return Err(format!("{}: not rows of {dim} float32", path.display()));
    }
    Ok(bytes
        .chunks_exact(4 * dim)
        .map(|row| {
            row.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect())
}
