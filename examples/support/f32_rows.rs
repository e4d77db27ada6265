//! Shared by the benchmark examples: reading raw vector files.

use std::io::Read;
use std::path::Path;

/// One row of little-endian float32.
fn row(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The rows of a raw vector file: little-endian float32, row-major, `dim` columns.
#[allow(dead_code)] // not every example reads whole files
pub fn read_f32(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if dim == 0 || bytes.len() % (4 * dim) != 0 {
        return Err(format!("{}: not rows of {dim} float32", path.display()));
    }
    Ok(bytes.chunks_exact(4 * dim).map(row).collect())
}

/// Up to `n` more rows of `dim` float32 from a raw vector file being streamed.
#[allow(dead_code)] // not every example streams
pub fn read_rows(r: &mut impl Read, dim: usize, n: usize) -> Result<Vec<Vec<f32>>, String> {
    let mut out = Vec::with_capacity(n.min(1 << 16));
    let mut buf = vec![0u8; dim * 4];
    for _ in 0..n {
        match r.read_exact(&mut buf) {
            Ok(()) => out.push(row(&buf)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(out)
}
