//! Which authenticator made a passkey: the AAGUID in its attestation object, and the names of
//! the models users meet most.
use uuid::Uuid;

/// The authenticator model (AAGUID) in a registration's attestation object: `authData` starts
/// with rpIdHash (32), flags (1), signCount (4), then, with the AT flag (0x40), the AAGUID (16)
/// (WebAuthn L3 6.1, 6.5.1). Attestation is `none`, so it is unsigned: a default name only.
/// All zeroes (the authenticator would not say) is `None`.
pub fn aaguid(attestation_object: &[u8]) -> Option<Uuid> {
    // The CBOR map's text key "authData", then its byte-string header (one or two length bytes).
    const KEY: &[u8] = b"\x68authData";
    let at = attestation_object
        .windows(KEY.len())
        .position(|w| w == KEY)?
        + KEY.len();
    let rest = attestation_object.get(at..)?;
    let data = match rest.first()? {
        0x58 => rest.get(2..)?,
        0x59 => rest.get(3..)?,
        h if (0x40..0x58).contains(h) => rest.get(1..)?,
        _ => return None,
    };
    if data.get(32)? & 0x40 == 0 {
        return None;
    }
    let id = Uuid::from_slice(data.get(37..53)?).ok()?;
    (!id.is_nil()).then_some(id)
}

/// A name for a passkey from its authenticator's AAGUID, for the providers users meet most
/// (from the passkey-authenticator-aaguids community list).
pub fn model_name(aaguid: Uuid) -> Option<&'static str> {
    Some(match aaguid.as_u128() {
        0xea9b8d66_4d01_1d21_3ce4_b6b48cb575d4 => "Google Password Manager",
        0xadce0002_35bc_c60a_648b_0b25f1f05503 => "Chrome on Mac",
        0xfbfc3007_154e_4ecc_8c0b_6e020557d7bd => "iCloud Keychain",
        0x08987058_cadc_4b81_b6e1_30de50dcbe96
        | 0x9ddd1817_af5a_4672_a2b9_3e3dd95000a9
        | 0x6028b017_b1d4_4c02_b4b3_afcdafc96bb2 => "Windows Hello",
        0xbada5566_a7aa_401f_bd96_45619a55120d => "1Password",
        0xd548826e_79b4_db40_a3d8_11116f7e8349 => "Bitwarden",
        0xcb69481e_8ff7_4039_93ec_0a2729a154a8 | 0xee882879_721c_4913_9775_3dfcce97072a => {
            "YubiKey 5"
        }
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attestation(aaguid: [u8; 16], flags: u8) -> Vec<u8> {
        let mut auth = vec![7u8; 32];
        auth.push(flags);
        auth.extend([0, 0, 0, 1]);
        auth.extend(aaguid);
        auth.extend([0, 2, 9, 9]);
        let mut att = vec![0xa3, 0x63];
        att.extend(b"fmt");
        att.extend([0x64]);
        att.extend(b"none");
        att.extend([0x67]);
        att.extend(b"attStmt");
        att.push(0xa0);
        att.push(0x68);
        att.extend(b"authData");
        att.extend([0x58, auth.len() as u8]);
        att.extend(auth);
        att
    }

    #[test]
    fn the_model_is_read_from_the_attestation_object() {
        let hello = Uuid::from_u128(0x08987058_cadc_4b81_b6e1_30de50dcbe96);
        let got = aaguid(&attestation(*hello.as_bytes(), 0x45)).unwrap();
        assert_eq!(got, hello);
        assert_eq!(model_name(got), Some("Windows Hello"));
        assert_eq!(
            aaguid(&attestation([0; 16], 0x45)),
            None,
            "zeroes: not said"
        );
        assert_eq!(
            aaguid(&attestation(*hello.as_bytes(), 0x05)),
            None,
            "no attested credential data"
        );
        assert_eq!(aaguid(b"\xa0"), None);
        assert_eq!(aaguid(&attestation(*hello.as_bytes(), 0x45)[..50]), None);
        assert_eq!(model_name(Uuid::new_v4()), None);
    }
}
