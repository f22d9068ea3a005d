//! Authentication of end users: the login state machine and one verifier per factor.
mod aaguid;
pub(crate) mod attempts;
pub mod backup;
pub(crate) mod enrollment;
mod login;
mod passkey_assertion;
pub mod passkeys;
pub mod password;
mod second_factor;
mod steps;
pub mod throttle;
pub mod totp;

pub use attempts::Attempt;
pub use enrollment::{EnrollFailure, PendingTotp};
pub use steps::{MfaPolicy, MfaStatus};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// RFC 8176 / DESIGN §2: authentication context class references Lanyard asserts.
pub const ACR_PWD: &str = "urn:lanyard:acr:pwd";
pub const ACR_MFA: &str = "urn:lanyard:acr:mfa";

/// DESIGN §3: the pre-MFA state expires this long after the password step, whether a code or a
/// policy-forced enrollment comes next (`[sessions] login_flow_timeout`, this by default).
pub const SECOND_FACTOR_TIMEOUT: Duration = Duration::minutes(5);
/// A TOTP secret shown for enrollment from the account page stays valid this long.
pub const ENROLLMENT_TIMEOUT: Duration = Duration::minutes(15);

/// A completed authentication, held server-side in the browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub user_id: Uuid,
    /// Public session identifier (the `sid` claim, OIDC Front/Back-Channel Logout).
    pub sid: String,
    /// When the user authenticated (the `auth_time` claim). For an upstream login this is the
    /// upstream's time, which may be long ago.
    pub auth_time: DateTime<Utc>,
    /// When this session's login completed here: the absolute session lifetime counts from it.
    pub login_at: DateTime<Utc>,
    /// The user's `session_epoch` read together with the credential that was checked: once
    /// the epoch moves on (every session of the user ended), this authentication is void.
    pub epoch: i64,
    /// RFC 8176 method references, e.g. ["pwd"] or ["pwd", "otp", "mfa"].
    pub amr: Vec<String>,
    pub acr: String,
    /// The `[[upstreams]]` entry the user signed in through, if any (for upstream logout).
    #[serde(default)]
    pub upstream: Option<String>,
}

impl Authenticated {
    pub fn is_mfa(&self) -> bool {
        self.acr == ACR_MFA
    }

    /// The session has outlived `absolute` since its local login (overflow counts as never).
    pub fn is_past(&self, absolute: Duration, now: DateTime<Utc>) -> bool {
        self.login_at
            .checked_add_signed(absolute)
            .is_some_and(|end| end < now)
    }
}

/// What the user must still do after the password step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NextFactor {
    /// Enter a TOTP or backup code.
    SecondFactor,
    /// A policy requires a second factor the user does not have yet: enroll one now.
    Enroll,
}

/// The login state machine (DESIGN §3): `Password → SecondFactor | Enroll → Done`. After the
/// password step this is stored server-side in the session; the browser carries only the
/// session id, never a factor's result, so a second factor cannot be presented without a
/// password step in the same session, and it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub user_id: Uuid,
    pub next: NextFactor,
    /// When the password was verified (or, for step-up, when the step-up began).
    pub started_at: DateTime<Utc>,
    /// `started_at` plus the login step timeout.
    pub expires_at: DateTime<Utc>,
    /// The user's `session_epoch` when the first factor was checked (see `Authenticated`).
    pub epoch: i64,
    /// Step-up of an existing session: the session's `sid` and first-factor amr carry over.
    pub step_up: Option<Authenticated>,
    /// The first factor was shown just now (password or upstream login), not in an older
    /// session: adding a factor then needs no password again.
    #[serde(default)]
    pub fresh: bool,
}

impl PendingLogin {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Where a password step leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    Pending(PendingLogin),
    Done(Authenticated),
}

/// Why a login attempt failed. The page shows the same words for every credential failure, so
/// it never reveals which half was wrong or whether the user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    BadCredentials,
    Disabled,
    /// A second-factor code was wrong, reused, or malformed.
    BadCode,
    /// A passkey's answer did not verify (or was not one of the user's passkeys).
    BadPasskey,
    /// Too many failures for this username or address; try again after this time.
    Throttled(DateTime<Utc>),
}

impl LoginFailure {
    pub fn message(self) -> String {
        match self {
            Self::BadCredentials => "Incorrect username or password.".into(),
            Self::Disabled => "This account is disabled. Contact your administrator.".into(),
            Self::BadCode => "That code is not valid. Try again with a new code.".into(),
            Self::BadPasskey => {
                "That passkey could not be verified. Try again, or sign in another way.".into()
            }
            Self::Throttled(_) => {
                "Too many failed attempts. Wait a few minutes, then try again.".into()
            }
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::BadCredentials => "bad_credentials",
            Self::Disabled => "disabled",
            Self::BadCode => "bad_code",
            Self::BadPasskey => "bad_passkey",
            Self::Throttled(_) => "throttled",
        }
    }
}

/// Proof of a recent authentication for sensitive account changes (disable TOTP, regenerate
/// backup codes): the password, a current TOTP code, or a backup code.
#[derive(Debug)]
pub enum Proof {
    Password(crate::secret::Secret<String>),
    Code(crate::secret::Secret<String>),
}

/// Group names: what `lanyard group` accepts, `[mfa] require_for_groups` lists and the `groups`
/// claim carries.
pub fn valid_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// RFC 8176 amr for a login completed with a second factor. Backup codes are one-time
/// passwords too, so both factors report `otp`.
pub fn mfa_amr(first: &[String]) -> Vec<String> {
    mfa_amr_with(first, "otp")
}

/// `mfa_amr` for a second factor of the given RFC 8176 method (`otp`, `hwk`, `swk`).
pub fn mfa_amr_with(first: &[String], method: &str) -> Vec<String> {
    let mut amr: Vec<String> = first.iter().filter(|m| *m != "mfa").cloned().collect();
    for m in [method, "mfa"] {
        if !amr.iter().any(|x| x == m) {
            amr.push(m.into());
        }
    }
    amr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn pending_second_step_and_enrollment_expire_after_five_minutes() {
        let p = PendingLogin {
            user_id: Uuid::nil(),
            next: NextFactor::SecondFactor,
            started_at: at(0),
            expires_at: at(0) + SECOND_FACTOR_TIMEOUT,
            epoch: 0,
            step_up: None,
            fresh: true,
        };
        assert!(!p.is_expired(at(299)));
        assert!(p.is_expired(at(300)));
        let enroll = PendingLogin {
            next: NextFactor::Enroll,
            ..p
        };
        assert!(!enroll.is_expired(at(299)));
        assert!(enroll.is_expired(at(300)));
    }

    #[test]
    fn the_absolute_lifetime_counts_from_the_local_login() {
        let a = Authenticated {
            user_id: Uuid::nil(),
            sid: "s".into(),
            // An upstream's auth_time from a year ago does not end a session that began now.
            auth_time: at(-365 * 86_400),
            login_at: at(0),
            epoch: 0,
            amr: vec!["fed".into()],
            acr: ACR_PWD.into(),
            upstream: Some("up".into()),
        };
        assert!(!a.is_past(Duration::hours(10), at(3_600)));
        assert!(a.is_past(Duration::hours(10), at(36_001)));
        assert!(!a.is_past(Duration::MAX, at(36_001)), "no overflow panic");
    }

    #[test]
    fn mfa_amr_adds_otp_and_mfa_once() {
        assert_eq!(mfa_amr(&["pwd".into()]), vec!["pwd", "otp", "mfa"]);
        assert_eq!(
            mfa_amr(&["pwd".into(), "otp".into(), "mfa".into()]),
            vec!["pwd", "otp", "mfa"]
        );
    }

    #[test]
    fn failure_messages_do_not_say_which_credential_was_wrong() {
        let m = LoginFailure::BadCredentials.message();
        assert!(m.contains("username or password"));
        assert_eq!(
            LoginFailure::Throttled(at(0)).message(),
            LoginFailure::Throttled(at(600)).message(),
            "the wait is not disclosed per account"
        );
    }
}
