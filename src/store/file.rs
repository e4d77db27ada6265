//! File helpers of the on-disk layout (native only): append-only files with a valid
//! length, whole-file replacement through a temporary file and a rename, directory
//! fsync, reads checked against a length and a CRC, and the two error constructors every
//! file of `store/` uses (`io` with what was being done to which path, `corrupt` with
//! what is wrong with which file).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::codec;
use crate::error::{Error, Result};
use crate::fault;

/// An `io` error: `what` was being done to `path`.
pub(crate) fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}", path.display()), e)
}

/// A `corrupt` error: the file at `path` is damaged as `detail` says.
pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.display().to_string(),
        detail: detail.into(),
    }
}

/// Makes the entries of `dir` (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fault::check("dir.sync")
        .and_then(|()| File::open(dir))
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing directory", dir, e))
}

/// Writes `bytes` to `dir/name` through `name.tmp`, fsync and rename. The caller syncs
/// the directory (once, after all its renames).
pub(crate) fn write_replace(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(|e| io_err("creating", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("writing", &tmp, e))?;
    fault::check("file.replace")
        .and_then(|()| fs::rename(&tmp, &dst))
        .map_err(|e| io_err("renaming into place", &dst, e))
}

/// A whole file read by [`read_checked`]: mapped, not copied (a checkpoint's graph is
/// over a hundred megabytes at a million rows; its decoder copies what it keeps).
#[derive(Debug)]
pub(crate) enum Checked {
    Empty,
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Checked {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Checked::Empty => &[],
            Checked::Mapped(m) => m,
        }
    }
}

/// Reads the whole file at `path`, which must hold exactly `len` bytes and, with `crc32`,
/// match it. A missing file is `corrupt`: the manifest names it. The file is one a
/// checkpoint wrote whole under a name of its own ([`write_replace`]), never changed in
/// place, so it is mapped.
pub(crate) fn read_checked(path: &Path, len: u64, crc32: Option<u32>) -> Result<Checked> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt(path, "missing"));
        }
        Err(e) => return Err(io_err("opening", path, e)),
    };
    let size = file
        .metadata()
        .map_err(|e| io_err("reading the size of", path, e))?
        .len();
    if size != len {
        return Err(corrupt(
            path,
            format!("holds {size} bytes but the manifest says {len}"),
        ));
    }
    let bytes = if size == 0 {
        Checked::Empty
    } else {
        Checked::Mapped(super::map_whole(&file, path)?)
    };
    if crc32.is_some_and(|c| c != codec::crc32(&bytes)) {
        return Err(corrupt(path, "fails its CRC check"));
    }
    Ok(bytes)
}

/// True when `file` no longer has a name in the directory (it was removed while open):
/// what is written to it from then on is lost when the process ends. Never on platforms
/// that do not let an open file be removed.
pub(crate) fn unlinked(file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().is_ok_and(|m| m.nlink() == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

/// Appends `bytes` to `file`, whose first `valid` bytes are good, then runs `then` on it
/// (an fsync, say); `point` is the fault point of the write (src/fault.rs; an injected
/// failure writes half the bytes first, as a full disk may). On failure the file is cut
/// back to `valid`, so that the next append lands where it belongs: `Err((error, cut))`,
/// `cut` false when even that failed. Shared by [`AppendFile::append`] and the log.
pub(crate) fn append_or_cut_back(
    file: &mut File,
    valid: u64,
    bytes: &[u8],
    point: &str,
    then: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::result::Result<(), (std::io::Error, bool)> {
    let res = match fault::check(point) {
        Err(e) => file.write_all(&bytes[..bytes.len() / 2]).and(Err(e)),
        Ok(()) => file.write_all(bytes),
    }
    .and_then(|()| then(file));
    res.map_err(|e| (e, file.set_len(valid).is_ok()))
}

/// Total size of the files under `path` (a file or a directory); 0 when it is missing.
pub(crate) fn disk_size(path: &Path) -> u64 {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| disk_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// An append-only file whose first `len` bytes are valid.
pub(crate) struct AppendFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
    /// Bytes past `len` (an unfinished checkpoint), cut by [`AppendFile::cut_extra`].
    extra: u64,
    /// A failed append could not be cut back off: nothing may follow it.
    stuck: bool,
}

impl AppendFile {
    /// Creates `path` empty (truncating what is there).
    pub(crate) fn create(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_err("creating", &path, e))?;
        file.set_len(0).map_err(|e| io_err("creating", &path, e))?;
        Ok(AppendFile {
            file,
            path,
            len: 0,
            extra: 0,
            stuck: false,
        })
    }

    /// Opens a file that must hold at least `valid` bytes. What lies beyond is cut by
    /// [`AppendFile::cut_extra`], once the whole database checked out.
    pub(crate) fn open(path: PathBuf, valid: u64) -> Result<Self> {
        Self::open_with(path, valid, true)
    }

    /// As [`AppendFile::open`], for reading only (a read-only open of the database):
    /// appending or cutting fails.
    pub(crate) fn open_read_only(path: PathBuf, valid: u64) -> Result<Self> {
        Self::open_with(path, valid, false)
    }

    fn open_with(path: PathBuf, valid: u64, append: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .append(append)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    corrupt(&path, "missing")
                } else {
                    io_err("opening", &path, e)
                }
            })?;
        let have = file
            .metadata()
            .map_err(|e| io_err("reading the size of", &path, e))?
            .len();
        if have < valid {
            return Err(corrupt(
                &path,
                format!("holds {have} bytes but the manifest says {valid}"),
            ));
        }
        Ok(AppendFile {
            file,
            path,
            len: valid,
            extra: have - valid,
            stuck: false,
        })
    }

    /// Cuts the bytes past the valid length (before anything is appended).
    pub(crate) fn cut_extra(&mut self) -> Result<()> {
        if self.extra > 0 {
            self.file
                .set_len(self.len)
                .map_err(|e| io_err("cutting an unfinished checkpoint off", &self.path, e))?;
            self.extra = 0;
        }
        Ok(())
    }

    /// Appends `bytes`. On failure (a full disk may take part of them) the file is cut
    /// back to its valid length, so that the next append lands where it belongs; when
    /// even that fails, every later append fails too.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert_eq!(self.extra, 0, "appending after unchecked bytes");
        if self.stuck {
            return Err(io_err(
                "writing",
                &self.path,
                std::io::Error::other("an earlier failed write could not be cut back off"),
            ));
        }
        if let Err((e, cut)) =
            append_or_cut_back(&mut self.file, self.len, bytes, "file.write", |_| Ok(()))
        {
            self.stuck |= !cut;
            return Err(io_err("writing", &self.path, e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Truncates the file to `len` bytes.
    pub(crate) fn cut_to(&mut self, len: u64) -> Result<()> {
        if self.len != len {
            self.file
                .set_len(len)
                .map_err(|e| io_err("truncating", &self.path, e))?;
            self.len = len;
        }
        Ok(())
    }

    pub(crate) fn sync(&self) -> Result<()> {
        fault::check("file.sync")
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io_err("syncing", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_files_keep_their_valid_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = AppendFile::create(path.clone()).unwrap();
        f.append(b"hello world").unwrap();
        f.sync().unwrap();
        drop(f);
        // Reopened with 5 valid bytes: the rest is cut only on request.
        let mut f = AppendFile::open(path.clone(), 5).unwrap();
        assert_eq!(f.len, 5);
        assert_eq!(&fs::read(&path).unwrap()[..5], b"hello");
        assert_eq!(fs::metadata(&path).unwrap().len(), 11);
        f.cut_extra().unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 5);
        f.append(b"!").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello!");
        // Fewer bytes than the manifest says, or no file, is corruption.
        assert_eq!(AppendFile::open(path, 100).err().unwrap().code(), "corrupt");
        let gone = dir.path().join("gone");
        assert_eq!(AppendFile::open(gone, 0).err().unwrap().code(), "corrupt");
    }

    #[test]
    fn replaced_files_are_read_back_checked() {
        let dir = tempfile::tempdir().unwrap();
        write_replace(dir.path(), "x.bin", b"abc").unwrap();
        sync_dir(dir.path()).unwrap();
        let p = dir.path().join("x.bin");
        let crc = codec::crc32(b"abc");
        assert_eq!(&*read_checked(&p, 3, Some(crc)).unwrap(), b"abc");
        assert_eq!(read_checked(&p, 4, None).unwrap_err().code(), "corrupt");
        assert_eq!(
            read_checked(&p, 3, Some(crc ^ 1)).unwrap_err().code(),
            "corrupt"
        );
        assert!(!dir.path().join("x.bin.tmp").exists());
        assert_eq!(disk_size(dir.path()), 3);
    }
}
