//! The on-disk cache of compiled components (SPEC § Security). A cached
//! artefact is native code the host runs, so it is trusted no further than
//! its directory: the directory is created 0700, a directory or file that
//! another user owns or may write is not used, and each artefact carries
//! the SHA-256 of its bytes, checked before wasmtime deserialises it (a
//! truncated, corrupt or swapped file is recompiled, never loaded). Old
//! entries are evicted, least recently used first.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// The first bytes of every cache file, naming its layout: this magic, the
/// artefact's SHA-256, the artefact.
const MAGIC: &[u8; 8] = b"RBCWASM1";
const HEADER: usize = MAGIC.len() + 32;

/// At most this many artefacts are kept (a few connectors × a few engine
/// versions); the least recently used go first.
pub const MAX_ENTRIES: usize = 32;

/// A cache directory that passed the ownership checks.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Why a cache directory or file is not used.
fn untrusted(path: &Path, meta: &std::fs::Metadata) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Some(format!("{} is owned by uid {}, not this user (uid {me})", path.display(), meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!("{} may be written by other users (mode {:o})", path.display(), meta.mode() & 0o777));
    }
    None
}

impl CompileCache {
    /// The cache in `dir`, created 0700 if absent; `None` (with a warning)
    /// when the directory cannot be made or is not safely this user's.
    pub fn open(dir: &Path) -> Option<Self> {
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            tracing::warn!("compile cache {} is not used: {e}", dir.display());
            return None;
        }
        let meta = std::fs::metadata(dir).ok()?;
        if let Some(why) = untrusted(dir, &meta) {
            tracing::warn!("compile cache is not used: {why}");
            return None;
        }
        Some(Self { dir: dir.to_path_buf() })
    }

    fn file(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The artefact stored under `key`, if it is there, this user's, and
    /// whole. Reading it marks it used.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.file(key);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if let Some(why) = untrusted(&path, &meta) {
            tracing::warn!("recompiling: {why}");
            return None;
        }
        let mut bytes = std::fs::read(&path).ok()?;
        let whole = bytes.len() >= HEADER && &bytes[..MAGIC.len()] == MAGIC && Sha256::digest(&bytes[HEADER..])[..] == bytes[MAGIC.len()..HEADER];
        if !whole {
            tracing::warn!("recompiling: cached component {} fails its integrity check", path.display());
            return None;
        }
        if let Ok(f) = std::fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes.split_off(HEADER))
    }

    /// Stores `artefact` under `key` (written aside, then renamed into
    /// place, so a reader never sees half a file), then evicts.
    pub fn put(&self, key: &str, artefact: &[u8]) {
        let tmp = self.dir.join(format!("{key}.{}.tmp", std::process::id()));
        let written = std::fs::File::options().write(true).create(true).truncate(true).mode(0o600).open(&tmp).and_then(|mut f| {
            f.write_all(MAGIC)?;
            f.write_all(&Sha256::digest(artefact))?;
            f.write_all(artefact)
        });
        if written.is_err() || std::fs::rename(&tmp, self.file(key)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        self.evict(MAX_ENTRIES);
    }

    /// Keeps the `keep` most recently used artefacts.
    fn evict(&self, keep: usize) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        let mut files: Vec<(SystemTime, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if files.len() <= keep {
            return;
        }
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, path) in files.drain(keep..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rapidbyte-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_artefact_round_trips_and_a_tampered_one_is_refused() {
        let dir = temp("tamper");
        let cache = CompileCache::open(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        cache.put("k", b"native code");
        assert_eq!(cache.get("k").as_deref(), Some(&b"native code"[..]));
        let path = cache.file("k");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.get("k"), None, "one flipped bit");
        std::fs::write(&path, &bytes[..HEADER - 1]).unwrap();
        assert_eq!(cache.get("k"), None, "truncated");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_or_file_others_may_write_is_not_used() {
        let dir = temp("perms");
        let cache = CompileCache::open(&dir).unwrap();
        cache.put("k", b"x");
        let path = cache.file("k");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(cache.get("k"), None, "a file others may write");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(CompileCache::open(&dir).is_none(), "a directory others may write");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_least_recently_used_entries_are_evicted() {
        let dir = temp("evict");
        let cache = CompileCache::open(&dir).unwrap();
        for i in 0..MAX_ENTRIES {
            cache.put(&format!("k{i}"), b"x");
            let old = SystemTime::now() - std::time::Duration::from_secs(3600 * (100 - i as u64));
            std::fs::File::options().write(true).open(cache.file(&format!("k{i}"))).unwrap().set_modified(old).unwrap();
        }
        // k0 is the oldest but used now: it stays; k1, k2, k3 make room.
        assert!(cache.get("k0").is_some());
        for n in 0..3 {
            cache.put(&format!("new{n}"), b"y");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), MAX_ENTRIES);
        assert!(cache.get("k0").is_some() && cache.get("new0").is_some() && cache.get("new2").is_some());
        assert!(cache.get("k1").is_none() && cache.get("k3").is_none() && cache.get("k4").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
