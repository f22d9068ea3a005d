//! Brute-force throttling (DESIGN §3). Failed attempts are stored per subject (`user:<name>`,
//! `ip:<address>`); once a subject has `max_failures` failures inside `window`, every further
//! attempt must wait `base_delay * 2^(failures - max_failures)` (capped at `max_delay`) after
//! the latest failure. The lock lifts by itself when that delay has passed, or when old failures
//! slide out of the window. Keyed by the submitted username, not the user id, so an unknown
//! username is throttled exactly like a real one.
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};

use crate::crypto::Cipher;
use crate::model::FailureCount;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub max_failures: u64,
    pub window: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures from one client address (across usernames) before it is throttled.
    pub ip_max_failures: u64,
    /// Failed client authentications per client id before the client is throttled.
    pub client_max_failures: u64,
    /// Failed client authentications from one address (across client ids).
    pub client_ip_max_failures: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::minutes(15),
            base_delay: Duration::seconds(30),
            max_delay: Duration::minutes(15),
            ip_max_failures: 50,
            client_max_failures: 20,
            client_ip_max_failures: 100,
        }
    }
}

impl ThrottlePolicy {
    /// When the next attempt is allowed, if not now.
    pub fn locked_until(
        &self,
        failures: FailureCount,
        max_failures: u64,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if max_failures == 0 || failures.count < max_failures {
            return None;
        }
        let last = failures.last_at?;
        let doublings = (failures.count - max_failures).min(20) as u32;
        let delay = self
            .base_delay
            .checked_mul(1 << doublings)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let until = last + delay;
        (until > now).then_some(until)
    }
}

/// The subject failures of a username are stored under: a keyed hash, so what people type into
/// the username field (sometimes a password) is not kept in clear, and the index key has a
/// fixed size whatever was submitted. Rotating the encryption key starts new counters.
pub fn user_subject(cipher: &Cipher, normalized_username: &str) -> String {
    let mac = cipher.keyed_hash(b"lanyard throttle user", normalized_username.as_bytes());
    format!("user:{}", crate::secret::b64url(&mac))
}

/// The subject failed authentications of a client id are stored under (keyed, like usernames:
/// the id comes from the request and may be anything).
pub fn client_subject(cipher: &Cipher, client_id: &str) -> String {
    let mac = cipher.keyed_hash(b"lanyard throttle client", client_id.as_bytes());
    format!("client:{}", crate::secret::b64url(&mac))
}

/// Failed client authentications from an address: counted apart from failed sign-ins from it,
/// so neither can lock the other out.
pub fn client_ip_subject(ip: &str) -> String {
    format!("client-{}", ip_subject(ip))
}

/// IPv6 clients usually own a whole /64, so that is the unit counted; IPv4 is per address.
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => format!(
            "ip:{}",
            v6.to_ipv4_mapped()
                .map_or(ip.to_string(), |a| a.to_string())
        ),
        _ => format!("ip:{ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn failures(count: u64, last: i64) -> FailureCount {
        FailureCount {
            count,
            pending: 0,
            last_at: Some(t(last)),
        }
    }

    #[test]
    fn under_the_limit_nothing_waits() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.locked_until(failures(4, 0), 5, t(0)), None);
        assert_eq!(p.locked_until(FailureCount::default(), 5, t(0)), None);
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.locked_until(failures(5, 0), 5, t(1)), Some(t(30)));
        assert_eq!(p.locked_until(failures(6, 0), 5, t(1)), Some(t(60)));
        assert_eq!(p.locked_until(failures(7, 0), 5, t(1)), Some(t(120)));
        assert_eq!(p.locked_until(failures(8, 0), 5, t(1)), Some(t(240)));
        // 30 s * 2^5 = 16 min, above the 15 min cap.
        assert_eq!(p.locked_until(failures(10, 0), 5, t(1)), Some(t(900)));
        assert_eq!(p.locked_until(failures(1000, 0), 5, t(1)), Some(t(900)));
    }

    #[test]
    fn the_lock_lifts_by_itself() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.locked_until(failures(5, 0), 5, t(29)), Some(t(30)));
        assert_eq!(p.locked_until(failures(5, 0), 5, t(30)), None);
        assert_eq!(p.locked_until(failures(6, 0), 5, t(61)), None);
    }

    #[test]
    fn zero_disables_a_limit() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.locked_until(failures(100, 0), 0, t(1)), None);
    }

    #[test]
    fn subjects_hide_usernames_and_group_ipv6() {
        let c = Cipher::new("k", &[1u8; 32], &[]).unwrap();
        let a = user_subject(&c, "alice");
        assert!(a.starts_with("user:") && !a.contains("alice"));
        assert_eq!(a, user_subject(&c, "alice"));
        assert_ne!(a, user_subject(&c, "bob"));
        assert_eq!(user_subject(&c, &"x".repeat(100_000)).len(), a.len());
        assert_eq!(ip_subject("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip_subject("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_subject("2001:db8:1:2:bbbb::9"), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_subject("::ffff:192.0.2.7"), "ip:192.0.2.7");
    }
}
