//! TOTP (RFC 6238) with the parameters every authenticator app understands: HMAC-SHA-1, 6
//! digits, 30-second steps, one step of clock skew either way. totp-rs computes the codes;
//! replay protection (an accepted step is never accepted again) is the store's job, because it
//! must hold across replicas.
use chrono::{DateTime, Utc};
use totp_rs::{Algorithm, Builder, Totp};

use crate::secret::{Secret, random_bytes};

/// RFC 4226 4 (R6) recommends 160-bit shared secrets.
pub const SECRET_LEN: usize = 20;
pub const DIGITS: u8 = 6;
pub const STEP_SECONDS: u64 = 30;
/// RFC 6238 5.2: accept one step of network delay / clock drift either way.
pub const SKEW: u16 = 1;

pub fn generate_secret() -> Secret<Vec<u8>> {
    Secret::new(random_bytes::<SECRET_LEN>().to_vec())
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW)
        .with_step_duration(STEP_SECONDS)
        .with_secret(secret.to_vec())
        .with_issuer(Some(label(issuer)))
        .with_account_name(label(account))
        .build()
        .ok()
}

/// Key URI labels may not contain ':' (it separates issuer and account).
fn label(s: &str) -> String {
    s.replace(':', "-")
}

/// A submitted code, normalised: spaces and dashes removed. `None` unless exactly 6 digits.
pub fn parse_code(raw: &str) -> Option<String> {
    let code: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The time step a valid code belongs to (within ±SKEW of `now`), or `None`.
pub fn check(secret: &[u8], code: &str, now: DateTime<Utc>) -> Option<i64> {
    let code = parse_code(code)?;
    let time = u64::try_from(now.timestamp()).ok()?;
    let t = totp(secret, "x", "x")?;
    t.check(&code, time).and_then(|s| i64::try_from(s).ok())
}

/// The code for `now` (tests, and the `bench` command).
pub fn code_at(secret: &[u8], now: DateTime<Utc>) -> Option<String> {
    let time = u64::try_from(now.timestamp()).ok()?;
    Some(totp(secret, "x", "x")?.generate(time).to_string())
}

/// What the enrollment page shows: the key URI (for the QR code and the tap-to-add link) and
/// the key as grouped base32 for typing in by hand.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Enrollment {
    pub uri: String,
    pub key_grouped: String,
    pub qr_svg: String,
}

/// Key URI format (Google Authenticator wiki): `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...`.
pub fn enrollment(secret: &[u8], issuer: &str, account: &str) -> Option<Enrollment> {
    let t = totp(secret, issuer, account)?;
    let uri = t.to_url().ok()?;
    let key = t.secret().to_base32();
    let key_grouped = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Enrollment {
        qr_svg: qr_svg(&uri)?,
        uri,
        key_grouped,
    })
}

/// The QR code as an inline SVG, drawn server-side (no JavaScript, no image crate).
fn qr_svg(data: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    /// RFC 6238 Appendix B test vectors (SHA-1 seed "12345678901234567890"), truncated to 6
    /// digits as authenticator apps show them.
    #[test]
    fn rfc6238_vectors() {
        let seed = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(seed, at(t)).as_deref(), Some(code), "t={t}");
            assert_eq!(check(seed, code, at(t)), Some(t / 30));
        }
    }

    #[test]
    fn window_is_one_step_either_way() {
        let seed = b"12345678901234567890";
        let now = at(1_700_000_000);
        let prev = code_at(seed, now - chrono::Duration::seconds(30)).unwrap();
        let next = code_at(seed, now + chrono::Duration::seconds(30)).unwrap();
        let old = code_at(seed, now - chrono::Duration::seconds(60)).unwrap();
        let step = now.timestamp() / 30;
        assert_eq!(check(seed, &prev, now), Some(step - 1));
        assert_eq!(check(seed, &next, now), Some(step + 1));
        assert_eq!(check(seed, &old, now), None);
    }

    #[test]
    fn malformed_codes_are_refused_before_any_hmac() {
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６", "123 45"] {
            assert_eq!(parse_code(bad), None, "{bad:?}");
        }
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123-456").as_deref(), Some("123456"));
    }

    #[test]
    fn enrollment_shows_standard_parameters() {
        let e = enrollment(&[7u8; 20], "Lanyard", "alice:smith").unwrap();
        assert!(
            e.uri.starts_with("otpauth://totp/Lanyard:alice-smith?"),
            "{}",
            e.uri
        );
        assert!(e.uri.contains("secret=A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYH"));
        assert!(e.uri.contains("issuer=Lanyard"));
        assert_eq!(e.key_grouped, "A4DQ OBYH A4DQ OBYH A4DQ OBYH A4DQ OBYH");
        assert!(e.qr_svg.starts_with("<?xml") || e.qr_svg.starts_with("<svg"));
    }
}
