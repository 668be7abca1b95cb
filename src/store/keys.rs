//! The keys of what the store holds about people, shared by every backend: the route
//! key (a file outside the database, so a copy of the database alone tells nobody how to
//! reach anyone) and the pseudonym key (kept in the database, made by us rather than by
//! a migration, so every backend makes it the same way).

use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Channel, StoreError};

/// The key of the routes: a file outside the database (a copy of the database alone
/// does not tell how to reach anyone), created 0600 on first use.
pub struct RouteKey(XChaCha20Poly1305);

/// Sealed values start with this; older rows in clear are read as they are.
pub const SEALED: &str = "enc1:";

impl RouteKey {
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        use chacha20poly1305::KeyInit;
        let bad = |source: std::io::Error| StoreError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let hex_key = match std::fs::read_to_string(path) {
            Ok(text) => text.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut f) => {
                        std::io::Write::write_all(&mut f, key.as_bytes()).map_err(bad)?;
                        key
                    }
                    // Another process of the same start created it first.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read_to_string(path)
                            .map_err(bad)?
                            .trim()
                            .to_string()
                    }
                    Err(e) => return Err(bad(e)),
                }
            }
            Err(e) => return Err(bad(e)),
        };
        let key = hex::decode(&hex_key)
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                bad(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "not 64 hexadecimal digits",
                ))
            })?;
        Ok(Self(XChaCha20Poly1305::new(Key::from_slice(&key))))
    }

    pub fn random() -> Self {
        use chacha20poly1305::KeyInit;
        Self(XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(
            &mut OsRng,
        )))
    }

    pub fn seal(&self, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, plain.as_bytes())
            .expect("XChaCha20-Poly1305 seals any length we store");
        format!("{SEALED}{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    pub fn open(&self, stored: &str) -> Result<String, StoreError> {
        let Some(sealed) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_string());
        };
        let corrupt = || StoreError::Corrupt("a sealed route that this key does not open".into());
        let bytes = hex::decode(sealed).map_err(|_| corrupt())?;
        if bytes.len() < 24 {
            return Err(corrupt());
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = self
            .0
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain).map_err(|_| corrupt())
    }
}

/// Where the route key lives by default: next to the database, `<file>.route-key`.
pub fn default_route_key_file(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".route-key");
    db.with_file_name(name)
}

/// The key of pseudonyms: platform user ids are stored as a keyed hash of this key, so
/// the same person finds the same conversation and the raw id is never stored.
pub struct PseudonymKey(Vec<u8>);

/// A pseudonymised platform user or session id: what the store keeps instead of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pseudonym(String);

impl Pseudonym {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A pseudonym read back from the store.
    pub fn stored(raw: String) -> Self {
        Self(raw)
    }
}

impl PseudonymKey {
    /// A new random key, hex-encoded: what a backend stores on its first open.
    pub fn generate() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// The key as stored (its text; keys made by the first SQLite migration included).
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.as_bytes().to_vec())
    }

    pub fn pseudonym(&self, channel: Channel, raw_id: &str) -> Pseudonym {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(channel.as_str().as_bytes());
        mac.update(b":");
        mac.update(raw_id.as_bytes());
        Pseudonym(hex::encode(mac.finalize().into_bytes()))
    }
}
