//! Backup codes: ten single-use codes shown once, stored as hashes (DESIGN §3).
//! 12 characters from a 31-letter alphabet without look-alikes (no 0/o, 1/l/i): ~59 bits each,
//! displayed as `xxxx-xxxx-xxxx`. The hash is SHA-256 over the user id and the code, so equal
//! codes of two users hash differently and a hash cannot be replayed against another account.
use uuid::Uuid;

use crate::secret::{random_bytes, sha256};

pub const COUNT: usize = 10;
const LEN: usize = 12;
const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// Ten fresh codes, formatted for display.
pub fn generate() -> Vec<String> {
    (0..COUNT).map(|_| generate_one()).collect()
}

/// Fresh codes for `user_id` (to show once) and their stored form.
pub fn generate_hashed(user_id: Uuid) -> (Vec<String>, Vec<Vec<u8>>) {
    let codes = generate();
    let hashes = codes
        .iter()
        .filter_map(|c| parse(c))
        .map(|c| hash(user_id, &c))
        .collect();
    (codes, hashes)
}

fn generate_one() -> String {
    let mut out = String::with_capacity(LEN + 2);
    let mut produced = 0;
    while produced < LEN {
        // Rejection sampling keeps the distribution uniform: 248 = 8 * 31.
        for b in random_bytes::<16>() {
            if produced == LEN {
                break;
            }
            if b < 248 {
                if produced > 0 && produced % 4 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[(b % 31) as usize] as char);
                produced += 1;
            }
        }
    }
    out
}

/// A submitted code, normalised (case, spaces and dashes ignored). `None` unless it has the
/// shape of a backup code.
pub fn parse(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored form of a code (already normalised by `parse`).
pub fn hash(user_id: Uuid, normalised: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(16 + LEN);
    data.extend_from_slice(user_id.as_bytes());
    data.extend_from_slice(normalised.as_bytes());
    sha256(&data).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_well_formed_and_parse_back() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut seen = std::collections::HashSet::new();
        for c in &codes {
            assert_eq!(c.len(), 14, "{c}");
            assert_eq!(c.matches('-').count(), 2);
            let n = parse(c).expect("generated code parses");
            assert!(seen.insert(n));
            assert_eq!(parse(&c.to_uppercase()), parse(c));
        }
    }

    #[test]
    fn shape_is_checked() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("123456"), None);
        assert_eq!(parse("abcd-efgh-jkm0"), None, "0 is not in the alphabet");
        assert_eq!(parse("abcd-efgh-jkmnp"), None, "too long");
        assert_eq!(parse("ABCD EFGH JKMN").as_deref(), Some("abcdefghjkmn"));
    }

    #[test]
    fn hashes_are_bound_to_the_user() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_ne!(hash(a, "abcdefghjkmn"), hash(b, "abcdefghjkmn"));
        assert_eq!(hash(a, "abcdefghjkmn"), hash(a, "abcdefghjkmn"));
    }
}
