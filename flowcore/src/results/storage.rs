//! Where results live: the [`ResultStorage`] trait and the local directory behind it by default.
//!
//! The default storage is the directory of the `results-dir` setting (`FLOWCORE_RESULTS_DIR`), else
//! `storage/` in the flowcore home (`~/.flowcore/storage`). Runs that share it share their results
//! (and caches); a server that shares it can show them.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A failure of the result storage, naming what it was doing and where.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A key that cannot name a stored result.
    #[error("invalid result key '{0}': use 1 to 128 letters, digits, '-' or '_'")]
    InvalidKey(String),
    /// The underlying storage failed.
    #[error("result storage: cannot {action} '{path}': {source}")]
    Io {
        /// What was being done (`write`, `read`, `lock`).
        action: &'static str,
        /// The file or object.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Writes a result's bytes into the writer it is given (see [`ResultStorage::write_with`]).
pub type Produce<'a> = dyn FnMut(&mut dyn Write) -> std::io::Result<()> + 'a;

/// A held lock on one key: dropping it releases the lock.
pub type KeyLock = Box<dyn Send + Sync>;

/// Where results are kept: bytes under keys, and a lock per key (two runs computing the same cache
/// key: one executes, the other waits and reuses its result).
///
/// Implement it for another place (an object store) and install it with
/// [`set_storage`](crate::runtime::results::set_storage).
pub trait ResultStorage: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `key`, whole or not at all (a reader never sees half a result).
    fn write(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// Stores what `produce` writes under `key`, whole or not at all: a failing `produce` leaves
    /// what was stored before. A storage that can take a stream (a file) overrides it so that a
    /// large result is never held in memory in its encoded form as well; the default collects the
    /// bytes and calls [`write`](Self::write).
    fn write_with(&self, key: &str, produce: &mut Produce<'_>) -> Result<(), StorageError> {
        let mut bytes = Vec::new();
        produce(&mut bytes).map_err(|source| StorageError::Io {
            action: "write",
            path: key.to_string(),
            source,
        })?;
        self.write(key, &bytes)
    }
    /// The bytes under `key`, if any.
    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// The size of what is stored under `key`, if anything.
    fn size(&self, key: &str) -> Result<Option<u64>, StorageError>;
    /// Takes the lock of `key` if no one holds it (`None`: someone does). A lock whose holder died
    /// is free again.
    fn try_lock(&self, key: &str) -> Result<Option<KeyLock>, StorageError>;
    /// Where it is, for people.
    fn describe(&self) -> String;
}

/// Checks that `key` can name a stored result.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

/// Results as files in a local directory: one file per key, written to a temporary file and renamed
/// into place; locks are `flock`s on files under `.locks/` (released by the system when their
/// process dies).
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// The storage in directory `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'p {
    move |source| StorageError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

impl ResultStorage for LocalDir {
    fn write(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.write_with(key, &mut |out: &mut dyn Write| out.write_all(bytes))
    }

    fn write_with(&self, key: &str, produce: &mut Produce<'_>) -> Result<(), StorageError> {
        let path = self.path(key)?;
        std::fs::create_dir_all(&self.root).map_err(io("create", &self.root))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.root)
            .map_err(io("write", &path))?;
        // The temporary file is removed if anything below fails.
        let mut out = std::io::BufWriter::with_capacity(1 << 16, tmp);
        if let Err(e) = produce(&mut out) {
            // What is still buffered is dropped unwritten, with the temporary file.
            drop(out.into_parts());
            return Err(io("write", &path)(e));
        }
        let tmp = out
            .into_inner()
            .map_err(|e| io("write", &path)(e.into_error()))?;
        tmp.as_file().sync_data().map_err(io("write", &path))?;
        tmp.persist(&path)
            .map_err(|e| io("write", &path)(e.error))?;
        Ok(())
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.path(key)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let path = self.path(key)?;
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    fn try_lock(&self, key: &str) -> Result<Option<KeyLock>, StorageError> {
        check_key(key)?;
        let dir = self.root.join(".locks");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let path = dir.join(format!("{key}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("lock", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io("lock", &path)(e)),
        }
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// The directory results go to by default: the `results-dir` setting (`FLOWCORE_RESULTS_DIR`),
/// else `storage/` in the flowcore home.
pub fn default_dir() -> PathBuf {
    match crate::config::get("results-dir") {
        Ok(Some(dir)) if !dir.is_empty() => PathBuf::from(dir),
        _ => crate::config::home().join("storage"),
    }
}

/// The default storage: a [`LocalDir`] at [`default_dir`].
pub fn default_storage() -> Arc<dyn ResultStorage> {
    Arc::new(LocalDir::new(default_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_lock() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalDir::new(dir.path().join("results"));
        assert_eq!(s.read("abc").unwrap(), None);
        s.write("abc", b"hello").unwrap();
        assert_eq!(s.read("abc").unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.size("abc").unwrap(), Some(5));
        s.write("abc", b"again").unwrap();
        assert_eq!(s.read("abc").unwrap().as_deref(), Some(&b"again"[..]));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(s.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");

        // A failing producer leaves the stored value and no temporary file.
        let err = s
            .write_with("abc", &mut |out: &mut dyn Write| {
                out.write_all(b"half")?;
                Err(std::io::Error::other("cannot serialize"))
            })
            .unwrap_err();
        assert!(err.to_string().contains("cannot serialize"), "{err}");
        assert_eq!(s.read("abc").unwrap().as_deref(), Some(&b"again"[..]));
        let leftovers = std::fs::read_dir(s.root())
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with(".tmp-")
            })
            .count();
        assert_eq!(leftovers, 0);
        s.write_with("streamed", &mut |out: &mut dyn Write| {
            out.write_all(b"in ")?;
            out.write_all(b"parts")
        })
        .unwrap();
        assert_eq!(
            s.read("streamed").unwrap().as_deref(),
            Some(&b"in parts"[..])
        );

        let held = s.try_lock("abc").unwrap().expect("free");
        assert!(s.try_lock("abc").unwrap().is_none(), "held");
        assert!(s.try_lock("other").unwrap().is_some());
        drop(held);
        assert!(s.try_lock("abc").unwrap().is_some(), "released");

        for bad in ["", "../x", "a/b", &"x".repeat(129)] {
            assert!(matches!(
                s.write(bad, b""),
                Err(StorageError::InvalidKey(_))
            ));
        }
    }
}
