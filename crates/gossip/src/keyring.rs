//! Gossip encryption keys, as memberlist's keyring: an ordered list of
//! AES-GCM keys (16, 24 or 32 bytes: AES-128, -192, -256), the first being
//! the primary. Messages are sealed with the primary and opened with
//! whichever installed key works, so a new key can be installed everywhere,
//! then made primary, then the old one removed, without a member ever
//! failing to read another (Consul's `keyring -install`, `-use`, `-remove`).
//!
//! Also owns the keyring file (Consul's `<data_dir>/serf/local.keyring`: a
//! JSON array of base64 keys, primary first) and Consul's rule for a file
//! and an `encrypt` key given together. Never touches the network.

use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::GossipError;

/// memberlist's encryption version 1: no padding, AES-GCM.
pub(crate) const VERSION: u8 = 1;
/// AES-GCM's standard nonce.
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM's tag.
const TAG_LEN: usize = 16;
/// What sealing adds to a message: version byte, nonce, tag.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// Consul's keyring file, relative to the data directory.
pub const KEYRING_FILE: &str = "serf/local.keyring";

type Aes192Gcm = AesGcm<Aes192, aes_gcm::aes::cipher::consts::U12>;

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl Cipher {
    fn new(raw: &[u8]) -> Option<Cipher> {
        Some(match raw.len() {
            16 => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(raw).ok()?)),
            24 => Cipher::Aes192(Box::new(Aes192Gcm::new_from_slice(raw).ok()?)),
            32 => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(raw).ok()?)),
            _ => return None,
        })
    }

    fn seal(&self, nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload { msg, aad };
        let nonce = nonce.into();
        match self {
            Cipher::Aes128(c) => c.encrypt(nonce, payload).ok(),
            Cipher::Aes192(c) => c.encrypt(nonce, payload).ok(),
            Cipher::Aes256(c) => c.encrypt(nonce, payload).ok(),
        }
    }

    fn open(&self, nonce: &[u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload { msg, aad };
        let nonce = nonce.into();
        match self {
            Cipher::Aes128(c) => c.decrypt(nonce, payload).ok(),
            Cipher::Aes192(c) => c.decrypt(nonce, payload).ok(),
            Cipher::Aes256(c) => c.decrypt(nonce, payload).ok(),
        }
    }
}

/// One installed key: its base64 form (how operators name it) and cipher.
#[derive(Clone)]
struct Key {
    encoded: String,
    raw: Vec<u8>,
    cipher: Cipher,
}

impl Key {
    fn parse(encoded: &str) -> Result<Key, GossipError> {
        let raw = STANDARD
            .decode(encoded.trim())
            .map_err(|e| GossipError::InvalidKey(format!("Invalid key: not base64: {e}")))?;
        let cipher = Cipher::new(&raw).ok_or_else(|| {
            GossipError::InvalidKey(format!(
                "Invalid key: key size must be 16, 24 or 32 bytes, got {}",
                raw.len()
            ))
        })?;
        Ok(Key {
            // Normalized, so that two spellings of one key are one key.
            encoded: STANDARD.encode(&raw),
            raw,
            cipher,
        })
    }
}

/// Why a sealed message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short, or not encryption version 1.
    Malformed,
    /// No installed key authenticates it (memberlist's wording).
    NoKey,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Malformed => f.write_str("not an encrypted gossip message"),
            OpenError::NoKey => f.write_str("No installed keys could decrypt the message"),
        }
    }
}

/// The installed gossip keys, primary first. Never empty.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(f, "Keyring({} keys)", self.keys.len())
    }
}

impl Keyring {
    /// A keyring of `keys` (base64), the first one primary; duplicates are
    /// kept once.
    ///
    /// # Errors
    ///
    /// [`GossipError::InvalidKey`] for a key that is not base64 of 16, 24 or
    /// 32 bytes, or an empty list.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> Result<Keyring, GossipError> {
        if keys.is_empty() {
            return Err(GossipError::InvalidKey("the keyring has no key".into()));
        }
        let mut ring = Keyring { keys: Vec::new() };
        for key in keys {
            let key = Key::parse(key.as_ref())?;
            if !ring.keys.iter().any(|k| k.raw == key.raw) {
                ring.keys.push(key);
            }
        }
        Ok(ring)
    }

    /// Checks that `key` is base64 of 16, 24 or 32 bytes.
    ///
    /// # Errors
    ///
    /// [`GossipError::InvalidKey`] saying what is wrong.
    pub fn validate_key(key: &str) -> Result<(), GossipError> {
        Key::parse(key).map(|_| ())
    }

    /// The installed keys in base64, primary first.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.encoded.clone()).collect()
    }

    /// The primary key in base64: the one messages are sealed with.
    #[must_use]
    pub fn primary(&self) -> String {
        self.keys[0].encoded.clone()
    }

    /// Whether `key` (base64) is installed.
    #[must_use]
    pub fn contains(&self, key: &str) -> bool {
        Key::parse(key).is_ok_and(|key| self.keys.iter().any(|k| k.raw == key.raw))
    }

    /// Installs `key` as a secondary key (no change if installed).
    ///
    /// # Errors
    ///
    /// [`GossipError::InvalidKey`] for a malformed key.
    pub fn install(&mut self, key: &str) -> Result<(), GossipError> {
        let key = Key::parse(key)?;
        if !self.keys.iter().any(|k| k.raw == key.raw) {
            self.keys.push(key);
        }
        Ok(())
    }

    /// Makes the installed `key` the primary one.
    ///
    /// # Errors
    ///
    /// [`GossipError::KeyNotInstalled`] if it is not installed,
    /// [`GossipError::InvalidKey`] for a malformed key.
    pub fn use_key(&mut self, key: &str) -> Result<(), GossipError> {
        let key = Key::parse(key)?;
        let at = self
            .keys
            .iter()
            .position(|k| k.raw == key.raw)
            .ok_or(GossipError::KeyNotInstalled)?;
        let chosen = self.keys.remove(at);
        self.keys.insert(0, chosen);
        Ok(())
    }

    /// Removes `key` (no change if it is not installed).
    ///
    /// # Errors
    ///
    /// [`GossipError::RemovePrimaryKey`] for the primary key,
    /// [`GossipError::InvalidKey`] for a malformed key.
    pub fn remove(&mut self, key: &str) -> Result<(), GossipError> {
        let key = Key::parse(key)?;
        if self.keys[0].raw == key.raw {
            return Err(GossipError::RemovePrimaryKey);
        }
        self.keys.retain(|k| k.raw != key.raw);
        Ok(())
    }

    /// Seals `msg` with the primary key under a fresh random `nonce`:
    /// version byte, nonce, ciphertext and tag (memberlist's version 1),
    /// `aad` authenticated but not included.
    #[must_use]
    pub fn seal(&self, nonce: [u8; NONCE_LEN], msg: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(msg.len() + OVERHEAD);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        // AES-GCM fails only past 64 GiB of plaintext; messages here are
        // bounded far below that.
        out.extend_from_slice(
            &self.keys[0]
                .cipher
                .seal(&nonce, msg, aad)
                .unwrap_or_default(),
        );
        out
    }

    /// Opens a sealed message with whichever installed key authenticates it.
    ///
    /// # Errors
    ///
    /// [`OpenError::Malformed`] for something too short or of another
    /// version, [`OpenError::NoKey`] when no key authenticates it.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.open_keyed(sealed, aad).map(|(plain, _)| plain)
    }

    /// As [`Keyring::open`], also answering a keyring of just the key that
    /// opened it (to answer a sender with a key it surely holds).
    pub(crate) fn open_keyed(
        &self,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, Keyring), OpenError> {
        if sealed.len() < OVERHEAD || sealed[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..=NONCE_LEN]);
        let body = &sealed[1 + NONCE_LEN..];
        self.keys
            .iter()
            .find_map(|k| {
                k.cipher.open(&nonce, body, aad).map(|plain| {
                    let ring = Keyring {
                        keys: vec![k.clone()],
                    };
                    (plain, ring)
                })
            })
            .ok_or(OpenError::NoKey)
    }

    /// Reads a keyring file: a JSON array of base64 keys, primary first.
    /// `Ok(None)` when there is no such file.
    ///
    /// # Errors
    ///
    /// [`GossipError::KeyringFile`] naming the file and the problem.
    pub fn read_file(path: &Path) -> Result<Option<Keyring>, GossipError> {
        let bad = |reason: String| GossipError::KeyringFile {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let keys: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a JSON array of keys: {e}")))?;
        if keys.is_empty() {
            return Err(bad("no keys present in keyring".into()));
        }
        Keyring::new(&keys)
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// Writes the keyring to `path` (mode 0600, directories created 0700),
    /// replacing the file atomically.
    ///
    /// # Errors
    ///
    /// [`GossipError::KeyringFile`] naming the file and the problem.
    pub fn write_file(&self, path: &Path) -> Result<(), GossipError> {
        let bad = |reason: String| GossipError::KeyringFile {
            path: path.to_path_buf(),
            reason,
        };
        let json = serde_json::to_vec(&self.keys()).map_err(|e| bad(e.to_string()))?;
        if let Some(dir) = path.parent() {
            create_private_dir(dir).map_err(|e| bad(format!("creating {}: {e}", dir.display())))?;
        }
        let tmp = path.with_extension("keyring.tmp");
        write_private(&tmp, &json).map_err(|e| bad(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| bad(e.to_string()))
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// The keyring a member starts with, as Consul decides it from `encrypt`
/// and the keyring file.
#[derive(Debug)]
pub struct KeyringSetup {
    /// The keys to start with; `None`: gossip is not encrypted.
    pub keyring: Option<Keyring>,
    /// Where changes are persisted (`None` with `disable_keyring_file`).
    pub file: Option<PathBuf>,
    /// Set when the file exists but lacks the `encrypt` key: Consul keeps
    /// the file's keys and warns.
    pub warning: Option<String>,
}

/// Consul's start-up rule: with a keyring file, a file that exists wins over
/// `encrypt` (with a warning when it lacks that key); a missing one is
/// created holding `encrypt`. Without a file (`disable_keyring_file`), the
/// keyring is just `encrypt`.
///
/// # Errors
///
/// [`GossipError::InvalidKey`] for a bad `encrypt`,
/// [`GossipError::KeyringFile`] for an unreadable or unwritable file.
pub fn setup_keyring(
    encrypt: Option<&str>,
    file: Option<&Path>,
) -> Result<KeyringSetup, GossipError> {
    let given = encrypt.map(|k| Keyring::new(&[k])).transpose()?;
    let Some(path) = file else {
        return Ok(KeyringSetup {
            keyring: given,
            file: None,
            warning: None,
        });
    };
    match (Keyring::read_file(path)?, given) {
        (Some(existing), given) => {
            let warning = match (&given, encrypt) {
                (Some(_), Some(key)) if !existing.contains(key) => Some(format!(
                    "LAN keyring {} doesn't include key provided with encrypt, using keyring",
                    path.display()
                )),
                _ => None,
            };
            Ok(KeyringSetup {
                keyring: Some(existing),
                file: Some(path.to_path_buf()),
                warning,
            })
        }
        (None, Some(given)) => {
            given.write_file(path)?;
            Ok(KeyringSetup {
                keyring: Some(given),
                file: Some(path.to_path_buf()),
                warning: None,
            })
        }
        (None, None) => Ok(KeyringSetup {
            keyring: None,
            file: Some(path.to_path_buf()),
            warning: None,
        }),
    }
}

/// A new random 32-byte key in base64 (`consul keygen`).
#[must_use]
pub fn generate_key() -> String {
    use foca_rand::Rng;
    let mut raw = [0u8; 32];
    foca_rand::make_rng::<foca_rand::rngs::StdRng>().fill_bytes(&mut raw);
    STANDARD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K16: &str = "pUqJrVyVRj5jsiYEkM/tFQ==";
    const K24: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
    const K32: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";

    #[test]
    fn every_key_size_seals_and_opens_with_memberlist_framing() {
        for key in [K16, K24, K32] {
            let ring = Keyring::new(&[key]).unwrap();
            let sealed = ring.seal([7; NONCE_LEN], b"hello", b"aad");
            assert_eq!(sealed.len(), 5 + OVERHEAD);
            assert_eq!(sealed[0], VERSION);
            assert_eq!(&sealed[1..=NONCE_LEN], &[7; NONCE_LEN]);
            assert_eq!(ring.open(&sealed, b"aad").unwrap(), b"hello");
            assert_eq!(ring.open(&sealed, b"other"), Err(OpenError::NoKey));
        }
    }

    #[test]
    fn a_message_opens_with_any_installed_key_but_not_a_foreign_one() {
        let old = Keyring::new(&[K16]).unwrap();
        let sealed = old.seal([1; NONCE_LEN], b"x", b"");
        let mut both = Keyring::new(&[K32, K16]).unwrap();
        assert_eq!(both.open(&sealed, b"").unwrap(), b"x");
        both.remove(K16).unwrap();
        assert_eq!(both.open(&sealed, b""), Err(OpenError::NoKey));
        assert_eq!(both.open(b"\x01short", b""), Err(OpenError::Malformed));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(old.open(&tampered, b""), Err(OpenError::NoKey));
    }

    #[test]
    fn install_use_remove_follow_memberlist_rules() {
        let mut ring = Keyring::new(&[K16]).unwrap();
        ring.install(K32).unwrap();
        ring.install(K32).unwrap();
        assert_eq!(ring.keys(), [K16, K32]);
        assert!(matches!(
            ring.use_key(K24),
            Err(GossipError::KeyNotInstalled)
        ));
        assert!(matches!(
            ring.remove(K16),
            Err(GossipError::RemovePrimaryKey)
        ));
        ring.use_key(K32).unwrap();
        assert_eq!(ring.primary(), K32);
        ring.remove(K16).unwrap();
        ring.remove(K24).unwrap();
        assert_eq!(ring.keys(), [K32]);
        let err = ring.install("c2hvcnQ=").unwrap_err().to_string();
        assert!(err.contains("16, 24 or 32 bytes"), "{err}");
        assert!(ring.install("not base64!").is_err());
        assert_eq!(ring.keys(), [K32]);
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let ring = Keyring::new(&[K32]).unwrap();
        assert!(!format!("{ring:?}").contains("pUqJ"));
    }

    #[test]
    fn an_existing_keyring_file_wins_over_encrypt_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEYRING_FILE);

        let first = setup_keyring(Some(K16), Some(&path)).unwrap();
        assert_eq!(first.keyring.unwrap().keys(), [K16]);
        assert!(first.warning.is_none());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[\"{K16}\"]"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let again = setup_keyring(Some(K32), Some(&path)).unwrap();
        assert_eq!(again.keyring.unwrap().keys(), [K16]);
        assert!(again.warning.unwrap().contains("doesn't include key"));

        let no_encrypt = setup_keyring(None, Some(&path)).unwrap();
        assert_eq!(no_encrypt.keyring.unwrap().keys(), [K16]);

        let disabled = setup_keyring(Some(K32), None).unwrap();
        assert_eq!(disabled.keyring.unwrap().keys(), [K32]);
        assert!(disabled.file.is_none());

        let none = setup_keyring(None, Some(&dir.path().join("absent"))).unwrap();
        assert!(none.keyring.is_none());

        std::fs::write(&path, "{}").unwrap();
        let err = setup_keyring(Some(K16), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("local.keyring"), "{err}");
        std::fs::write(&path, "[]").unwrap();
        assert!(setup_keyring(None, Some(&path)).is_err());
    }

    #[test]
    fn generated_keys_are_32_random_bytes() {
        let a = generate_key();
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, generate_key());
        Keyring::validate_key(&a).unwrap();
    }
}
