//! A durable outbox: event batches a flowcore server has not acknowledged, kept on disk until it
//! does.
//!
//! When the server cannot be reached for longer than the API sink retries a batch, the batch — and
//! every batch after it, so the server receives them in order — is written here, one file per
//! batch, named by its batch id (a UUIDv7: names sort in the order the batches were made). The file
//! holds the exact request body, batch id included, so sending it again is idempotent: the server
//! writes a batch id once. Whoever reports to that server next — this process when the server
//! answers again, or the next flowcore process that reports to it — sends the files in order and
//! deletes each once the server acknowledged it. One process drains a folder at a time (an
//! advisory file lock); the others add their batches behind.
//!
//! The folder is `{home}/outbox/{server}` (the server's URL hashed; its `server` file names it).
//! A batch the server refuses (4xx: it can never be written) is moved to `rejected/` beside it,
//! with a warning, and kept for inspection.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// The outbox folder of one server: see the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// The outbox in folder `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Outbox {
        Outbox { dir: dir.into() }
    }

    /// The outbox of the server at `api_url` under the flowcore home `home`:
    /// `{home}/outbox/{hash of the URL}`.
    pub fn for_server(home: &Path, api_url: &str) -> Outbox {
        use sha2::{Digest, Sha256};
        let url = api_url.trim_end_matches('/');
        let digest = Sha256::digest(url.as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let outbox = Outbox::at(home.join("outbox").join(name));
        // Which server the folder is for, for people (best effort: the batches matter, not this).
        let _ = std::fs::create_dir_all(&outbox.dir)
            .and_then(|()| std::fs::write(outbox.dir.join("server"), format!("{url}\n")));
        outbox
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The batches waiting, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut files = Vec::new();
        for entry in entries {
            let path = entry?.path();
            let is_batch = path.extension().is_some_and(|e| e == "json")
                && path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| Uuid::parse_str(s).is_ok());
            if is_batch {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Keeps request body `body` of batch `id`: written to a temporary file, flushed to disk, then
    /// renamed into place, so a crash leaves the whole batch or none of it.
    pub(crate) fn put(&self, id: Uuid, body: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{id}.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(format!("{id}.json")))
    }

    /// Moves a batch the server refused to `rejected/`.
    pub(crate) fn reject(&self, path: &Path) -> std::io::Result<PathBuf> {
        let rejected = self.dir.join("rejected");
        std::fs::create_dir_all(&rejected)?;
        let to = rejected.join(path.file_name().unwrap_or_default());
        std::fs::rename(path, &to)?;
        Ok(to)
    }

    /// The right to drain the folder, unless another process holds it (`None`). Held while the
    /// returned file is open.
    pub(crate) fn try_lock(&self) -> std::io::Result<Option<File>> {
        std::fs::create_dir_all(&self.dir)?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outbox;

    #[test]
    fn batches_are_kept_whole_in_order_and_one_process_drains_at_a_time() {
        let home = tempfile::tempdir().unwrap();
        let outbox = Outbox::for_server(home.path(), "http://127.0.0.1:4200/api/");
        assert_eq!(
            outbox,
            Outbox::for_server(home.path(), "http://127.0.0.1:4200/api")
        );
        assert_ne!(
            outbox,
            Outbox::for_server(home.path(), "http://127.0.0.1:4201/api")
        );
        assert!(outbox.pending().unwrap().is_empty());
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        for id in ids.iter().rev() {
            outbox.put(*id, id.to_string().as_bytes()).unwrap();
        }
        let pending = outbox.pending().unwrap();
        let names: Vec<String> = pending
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        let expected: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        assert_eq!(names, expected);
        let rejected = outbox.reject(&pending[0]).unwrap();
        assert!(rejected.exists());
        assert_eq!(outbox.pending().unwrap().len(), 2);
        let held = outbox.try_lock().unwrap();
        assert!(held.is_some());
        // Another open file description (as another process has) cannot take it meanwhile.
        assert!(outbox.try_lock().unwrap().is_none());
        drop(held);
        assert!(outbox.try_lock().unwrap().is_some());
    }
}
