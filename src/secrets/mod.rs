//! Secrets at rest: the keys of `--secrets-key-file`, and sealing and opening the secrets the store keeps.
//!
//! The store seals a secret as it writes it and opens it as it reads it (see
//! `store::secrets`), so above the store every secret is plain text and below it none is. A
//! running confab picks up a key added to its key file without a restart: the file is looked
//! at again before each seal (a stat, and a re-read when it changed) and when a stored value
//! names a key it does not hold yet (at most once a second), so `confab secrets rotate` can
//! seal under a new key while every node keeps reading.

pub mod keyfile;
pub mod sealed;

pub use keyfile::{Key, KeyFileError};
pub use sealed::{is_sealed, key_id_of, Binding, SecretError};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// A key file that changed is read again at most this often for a value whose key is
/// missing: an unknown key id met on every read must not re-read the file every time.
const MISSING_KEY_RELOAD: Duration = Duration::from_secs(1);

/// The keys secrets are sealed with, or none (secrets are stored in clear). Cheap to clone.
#[derive(Clone, Default)]
pub struct Secrets(Option<Arc<Keyring>>);

struct Keyring {
    /// The key file, read again when it changes; `None` for keys given directly (tests).
    path: Option<PathBuf>,
    /// In file order: the last is the newest, which seals.
    keys: RwLock<Arc<Vec<Key>>>,
    watch: Mutex<FileWatch>,
}

#[derive(Default)]
struct FileWatch {
    /// The file's modification time and length when it was last read.
    stamp: Option<(SystemTime, u64)>,
    last_read: Option<Instant>,
}

// Neither keys nor secrets reach a log through `Debug`: it shows only the key ids.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Secrets(in clear)"),
            Some(_) => f.debug_tuple("Secrets").field(&self.key_ids()).finish(),
        }
    }
}

impl Secrets {
    /// No key file: secrets are stored in clear.
    pub const fn none() -> Secrets {
        Secrets(None)
    }

    /// The keys of a key file (see `keyfile`).
    pub fn from_file(path: &Path) -> Result<Secrets, KeyFileError> {
        let keys = keyfile::read(path)?;
        let watch = FileWatch {
            stamp: stamp(path),
            last_read: Some(Instant::now()),
        };
        Ok(Secrets(Some(Arc::new(Keyring {
            path: Some(path.to_path_buf()),
            keys: RwLock::new(Arc::new(keys)),
            watch: Mutex::new(watch),
        }))))
    }

    /// Keys given directly, never re-read.
    pub fn from_keys(keys: Vec<Key>) -> Secrets {
        Secrets(Some(Arc::new(Keyring {
            path: None,
            keys: RwLock::new(Arc::new(keys)),
            watch: Mutex::new(FileWatch::default()),
        })))
    }

    /// Whether secrets are sealed (a key file is set).
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The ids of the keys held, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys().iter().map(|k| k.id.clone()).collect()
    }

    /// The id of the key new values are sealed under, if any.
    pub fn newest_key_id(&self) -> Option<String> {
        self.keys().last().map(|k| k.id.clone())
    }

    /// The stored form of `plain` at `at`: sealed under the newest key, or `plain` itself
    /// without a key file. An empty value (no secret) is stored empty.
    pub fn seal(&self, plain: &str, at: Binding<'_>) -> Result<String, SecretError> {
        let Some(ring) = &self.0 else {
            return Ok(plain.to_string());
        };
        if plain.is_empty() {
            return Ok(String::new());
        }
        ring.refresh_if_changed();
        let keys = ring.current();
        let newest = keys
            .last()
            .ok_or(SecretError::Seal("the key file holds no key"))?;
        sealed::seal(newest, plain, at)
    }

    /// The plain value of a stored one: opened if sealed, as stored if in clear (written
    /// before the key file was set; `confab secrets rotate` seals those).
    pub fn open(&self, stored: &str, at: Binding<'_>) -> Result<String, SecretError> {
        let key_id = match key_id_of(stored) {
            None => return Ok(stored.to_string()),
            Some(id) => id?,
        };
        let Some(ring) = &self.0 else {
            return Err(SecretError::NoKeyFile {
                key_id: key_id.to_string(),
            });
        };
        if let Some(key) = ring.find(key_id) {
            return sealed::open(&key, stored, at);
        }
        // A key added to the file since it was read (another node or the rotation may
        // already seal under it): read the file again, then try once more.
        ring.reload_for_missing();
        match ring.find(key_id) {
            Some(key) => sealed::open(&key, stored, at),
            None => Err(SecretError::MissingKey {
                key_id: key_id.to_string(),
            }),
        }
    }

    /// Whether a stored value should be sealed again: it is in clear, or sealed under a key
    /// other than the newest. Always false without a key file.
    pub fn needs_resealing(&self, stored: &str) -> bool {
        if self.0.is_none() || stored.is_empty() {
            return false;
        }
        match key_id_of(stored) {
            None => true,
            Some(Ok(id)) => self.newest_key_id().as_deref() != Some(id),
            Some(Err(_)) => false,
        }
    }

    fn keys(&self) -> Arc<Vec<Key>> {
        match &self.0 {
            Some(ring) => ring.current(),
            None => Arc::default(),
        }
    }
}

impl Keyring {
    fn current(&self) -> Arc<Vec<Key>> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn find(&self, id: &str) -> Option<Key> {
        self.current().iter().find(|k| k.id == id).cloned()
    }

    /// Reads the file again if its modification time or length changed since it was read.
    fn refresh_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let now = stamp(path);
        let Ok(mut watch) = self.watch.lock() else {
            return;
        };
        if now.is_some() && now != watch.stamp {
            watch.stamp = now;
            watch.last_read = Some(Instant::now());
            self.reload(path);
        }
    }

    /// Reads the file again unless it was read within the last second.
    fn reload_for_missing(&self) {
        let Some(path) = &self.path else { return };
        let Ok(mut watch) = self.watch.lock() else {
            return;
        };
        if watch
            .last_read
            .is_some_and(|at| at.elapsed() < MISSING_KEY_RELOAD)
        {
            return;
        }
        watch.stamp = stamp(path);
        watch.last_read = Some(Instant::now());
        self.reload(path);
    }

    /// Replaces the keys with the file's; a file that cannot be used now (being edited, say)
    /// leaves the keys read before in place.
    fn reload(&self, path: &Path) {
        match keyfile::read(path) {
            Ok(keys) => {
                let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
                tracing::info!(keys = ?ids, "secrets: key file read again");
                if let Ok(mut held) = self.keys.write() {
                    *held = Arc::new(keys);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "secrets: the key file changed but cannot be used; keeping the keys read before")
            }
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Binding<'static> = Binding {
        table: "customers",
        row: "c1",
        field: "connections",
    };

    fn line(id: &str, fill: u8) -> String {
        use base64::Engine as _;
        format!(
            "{id}:{}\n",
            base64::engine::general_purpose::STANDARD.encode([fill; 32])
        )
    }

    #[test]
    fn without_keys_values_stay_in_clear_and_sealed_ones_name_their_key() {
        let none = Secrets::none();
        assert_eq!(none.seal("tok", AT).unwrap(), "tok");
        assert_eq!(none.open("tok", AT).unwrap(), "tok");
        let ring = Secrets::from_keys(keyfile::parse(&line("k1", 1), "keys").unwrap());
        let sealed = ring.seal("tok", AT).unwrap();
        assert_eq!(
            none.open(&sealed, AT),
            Err(SecretError::NoKeyFile {
                key_id: "k1".into()
            })
        );
        assert!(!none.needs_resealing("tok"));
        assert!(ring.needs_resealing("tok"));
        assert!(!ring.needs_resealing(&sealed));
        assert_eq!(ring.seal("", AT).unwrap(), "");
        assert!(!format!("{ring:?}").contains("AQEB"), "{ring:?}");
    }

    #[test]
    fn a_key_added_to_the_file_is_picked_up_for_sealing_and_opening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, line("k1", 1)).unwrap();
        let old = Secrets::from_file(&path).unwrap();
        let before = old.seal("tok", AT).unwrap();
        std::fs::write(&path, line("k1", 1) + &line("k2", 2)).unwrap();
        // Another process (the rotation) reads the new file and seals under k2.
        let new = Secrets::from_file(&path).unwrap();
        let after = new.seal("tok", AT).unwrap();
        assert!(after.starts_with("enc:v1:k2:"), "{after}");
        std::thread::sleep(MISSING_KEY_RELOAD);
        assert_eq!(old.open(&after, AT).unwrap(), "tok");
        assert_eq!(new.open(&before, AT).unwrap(), "tok");
        assert!(old.seal("tok", AT).unwrap().starts_with("enc:v1:k2:"));
        assert_eq!(old.newest_key_id().as_deref(), Some("k2"));
    }
}
