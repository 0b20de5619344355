//! Blobs (uploaded documents, final PDFs) in a folder, addressed by the SHA-256 of their bytes:
//! `blobs/ab/cd/abcd…`. Writes go to a temporary file first and are renamed into place, so a reader never
//! sees half a blob and writing the same bytes twice is harmless.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, digest: &str) -> Option<PathBuf> {
        let well_formed =
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        well_formed.then(|| self.root.join(&digest[..2]).join(&digest[2..4]).join(digest))
    }

    /// Stores `bytes`, returning their SHA-256 as lowercase hex.
    pub async fn put(&self, bytes: &[u8]) -> io::Result<String> {
        let digest = hex::encode(Sha256::digest(bytes));
        let path = self.path_of(&digest).ok_or_else(|| io::Error::other("digest shape"))?;
        if tokio::fs::try_exists(&path).await? {
            return Ok(digest);
        }
        let dir = path.parent().ok_or_else(|| io::Error::other("blob path has no parent"))?;
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".{digest}.{}.tmp", std::process::id()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::File::open(&tmp).await?.sync_all().await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(digest)
    }

    /// The bytes stored under `digest`, or `None` when there are none (or the digest is malformed).
    pub async fn get(&self, digest: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path_of(digest) else {
            return Ok(None);
        };
        match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_round_trip_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path().join("blobs"));
        let digest = blobs.put(b"%PDF-1.7 hello").await.unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(b"%PDF-1.7 hello")));
        assert_eq!(blobs.put(b"%PDF-1.7 hello").await.unwrap(), digest);
        assert_eq!(blobs.get(&digest).await.unwrap().unwrap(), b"%PDF-1.7 hello");
        assert!(blobs.get(&"0".repeat(64)).await.unwrap().is_none());
        assert!(blobs.get("../../etc/passwd").await.unwrap().is_none());
    }
}
