//! `[encryption]`: the AES-256-GCM key for data at rest, given as base64 (standard or URL-safe,
//! padding optional) or 64 hex digits, from a secret reference. `{ file = "...", create = true }`
//! generates the key on first start, so a new install works with one command.
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use lanyard_core::secret::{Secret, random_bytes};

use crate::raw::RawEncryption;
use crate::secret_ref::{self, Resolved};
use crate::settings::EncryptionSettings;
use crate::validate::Validator;

pub(crate) const KEY_LEN: usize = 32;
const HOW: &str = "generate one with `openssl rand -base64 32`";

/// A generated key waiting to be written: only once the whole file is valid, so `config check`
/// of a broken file leaves nothing behind.
#[derive(Debug)]
pub(crate) struct KeyFile {
    pub path: PathBuf,
    pub key: [u8; KEY_LEN],
}

impl Validator<'_> {
    pub(crate) fn encryption(&mut self, raw: RawEncryption) -> EncryptionSettings {
        let key_id = self
            .take("encryption.key_id", raw.key_id)
            .unwrap_or_else(|| "k1".into());
        self.check_key_id("encryption.key_id", &key_id);
        let key = match raw.key {
            None => {
                self.problems.push(
                    "encryption.key",
                    format!("required: a 32-byte key, base64 or hex; {HOW}"),
                );
                None
            }
            Some(value) => self.key("encryption.key", value, true),
        };
        let mut old_keys: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, old) in raw.old_keys.unwrap_or_default().into_iter().enumerate() {
            let path = format!("encryption.old_keys[{i}]");
            let Some(id) = self.required(&format!("{path}.key_id"), old.key_id, "required") else {
                continue;
            };
            self.check_key_id(&format!("{path}.key_id"), &id);
            if id == key_id || old_keys.iter().any(|(k, _)| *k == id) {
                self.problems.push(
                    format!("{path}.key_id"),
                    format!("key id {id:?} is used twice"),
                );
            }
            let Some(value) = old.key else {
                self.problems.push(format!("{path}.key"), "required");
                continue;
            };
            if let Some(bytes) = self.key(&format!("{path}.key"), value, false) {
                old_keys.push((id, bytes));
            }
        }
        EncryptionSettings {
            key_id,
            key: Secret::new(key.unwrap_or_default()),
            old_keys,
        }
    }

    fn check_key_id(&mut self, path: &str, id: &str) {
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.problems
                .push(path, "must be 1-64 characters of A-Z a-z 0-9 - _ .");
        }
    }

    fn key(&mut self, path: &str, value: toml::Value, allow_create: bool) -> Option<Vec<u8>> {
        let secret = secret_ref::parse(value, path, allow_create, &mut self.problems)?;
        match self.sources.resolve(&secret, path, &mut self.problems)? {
            Resolved::Value(text) => match decode_key(&text) {
                Ok(key) => Some(key),
                Err(message) => {
                    self.problems.push(path, message);
                    None
                }
            },
            Resolved::Missing(file) => {
                let key = random_bytes::<KEY_LEN>();
                self.key_file = Some(KeyFile { path: file, key });
                Some(key.to_vec())
            }
        }
    }
}

/// 64 hex digits, or base64 in either alphabet with or without padding; exactly 32 bytes.
/// Messages describe the input, never repeat it.
pub(crate) fn decode_key(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        decode_hex(text)
    } else {
        let config =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        [alphabet::STANDARD, alphabet::URL_SAFE]
            .iter()
            .find_map(|a| GeneralPurpose::new(a, config).decode(text).ok())
            .ok_or_else(|| format!("is neither base64 nor 64 hex digits; {HOW}"))?
    };
    if bytes.len() != KEY_LEN {
        return Err(format!(
            "must be exactly 32 bytes, got {}; {HOW}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn decode_hex(text: &str) -> Vec<u8> {
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
        .collect()
}

impl KeyFile {
    /// Write the key (base64, mode 0600) unless another process got there first, and return the
    /// key that is now on disk. The key is written to a temporary file and hard-linked into
    /// place, which fails if the target exists: two first starts cannot end up with two keys,
    /// and nobody reads a half-written file.
    pub(crate) fn write(&self) -> Result<Vec<u8>, String> {
        let fail =
            |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", self.path.display());
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| fail("create the directory for", e))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.{}.tmp",
            lanyard_core::secret::random_token()
        ));
        let text = format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(self.key)
        );
        let written = write_private(&tmp, text.as_bytes())
            .and_then(|()| std::fs::hard_link(&tmp, &self.path));
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(self.key.to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&self.path).map_err(|e| fail("read", e))?;
                decode_key(&text)
            }
            Err(e) => Err(fail("write", e)),
        }
    }
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    use super::*;

    #[test]
    fn key_encodings() {
        let key: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(37).wrapping_add(250))
            .collect();
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(decode_key(&hex).unwrap(), key);
        assert_eq!(decode_key(&hex.to_uppercase()).unwrap(), key);
        assert_eq!(decode_key(&STANDARD.encode(&key)).unwrap(), key);
        assert_eq!(decode_key(&URL_SAFE_NO_PAD.encode(&key)).unwrap(), key);
        assert_eq!(
            decode_key(&format!("{}\n", STANDARD.encode(&key))).unwrap(),
            key
        );
    }

    #[test]
    fn key_length_and_garbage() {
        assert!(
            decode_key(&STANDARD.encode([1u8; 16]))
                .unwrap_err()
                .starts_with("must be exactly 32 bytes, got 16")
        );
        assert!(
            decode_key("not a key!")
                .unwrap_err()
                .starts_with("is neither base64 nor 64 hex")
        );
        // A secret must not be echoed back in the message.
        assert!(
            !decode_key("hunter2hunter2")
                .unwrap_err()
                .contains("hunter2")
        );
    }
}
