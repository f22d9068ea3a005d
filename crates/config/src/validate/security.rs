//! The security sections: password hashing cost, who needs a second factor, and lockout.
use lanyard_core::authn::password::Argon2Params;

use super::{DAY, HOUR, MINUTE, Validator, valid_group_name};
use crate::raw::{RawLockout, RawMfa, RawPasswords, RawWebauthn};
use crate::settings::{LockoutSettings, MfaSettings, PasswordSettings, WebauthnSettings};

impl Validator<'_> {
    pub(super) fn passwords(&mut self, raw: RawPasswords) -> PasswordSettings {
        let d = Argon2Params::default();
        let argon2 = Argon2Params {
            memory_kib: self
                .take("passwords.argon2_memory_kib", raw.argon2_memory_kib)
                .unwrap_or(d.memory_kib),
            iterations: self
                .take("passwords.argon2_iterations", raw.argon2_iterations)
                .unwrap_or(d.iterations),
            parallelism: self
                .take("passwords.argon2_parallelism", raw.argon2_parallelism)
                .unwrap_or(d.parallelism),
        };
        // The argon2 crate's own limits (RFC 9106 3.1), checked here so the server never starts
        // with parameters it cannot hash with.
        if !(1..=0xFF_FFFF).contains(&argon2.parallelism) {
            self.problems.push(
                "passwords.argon2_parallelism",
                "must be between 1 and 16777215",
            );
        }
        if argon2.iterations == 0 {
            self.problems
                .push("passwords.argon2_iterations", "must be at least 1");
        }
        if u64::from(argon2.memory_kib) < 8 * u64::from(argon2.parallelism.max(1)) {
            self.problems.push(
                "passwords.argon2_memory_kib",
                "must be at least 8 × argon2_parallelism",
            );
        }
        let max = self
            .take("passwords.max_concurrent_hashes", raw.max_concurrent_hashes)
            .unwrap_or(0);
        let max_concurrent_hashes = match max {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        PasswordSettings {
            argon2,
            max_concurrent_hashes,
        }
    }

    pub(super) fn mfa(&mut self, raw: RawMfa, issuer: Option<&url::Url>) -> MfaSettings {
        let require_for_all = self
            .take("mfa.require_for_all", raw.require_for_all)
            .unwrap_or(false);
        let groups = self
            .take("mfa.require_for_groups", raw.require_for_groups)
            .unwrap_or_default();
        for (i, g) in groups.iter().enumerate() {
            if !valid_group_name(g) {
                self.problems.push(
                    format!("mfa.require_for_groups[{i}]"),
                    format!("{g:?} is not a group name (1-64 of a-z A-Z 0-9 - _ .)"),
                );
            }
        }
        // Authenticator apps show this next to the account; default: the issuer's host.
        let default_issuer = issuer
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "Lanyard".into());
        let totp_issuer = self
            .take("mfa.totp_issuer", raw.totp_issuer)
            .unwrap_or(default_issuer);
        if totp_issuer.trim().is_empty() || totp_issuer.contains(':') || totp_issuer.len() > 64 {
            self.problems.push(
                "mfa.totp_issuer",
                "must be 1-64 characters without ':' (it separates issuer and account in the key URI)",
            );
        }
        MfaSettings {
            require_for_all,
            require_for_groups: groups,
            totp_issuer,
        }
    }

    pub(super) fn webauthn(
        &mut self,
        raw: RawWebauthn,
        issuer: Option<&url::Url>,
        product_name: &str,
    ) -> WebauthnSettings {
        let rp_name = self
            .take("webauthn.rp_name", raw.rp_name)
            .unwrap_or_else(|| product_name.to_string());
        if rp_name.trim().is_empty() || rp_name.len() > 64 {
            self.problems
                .push("webauthn.rp_name", "must be 1-64 characters");
        }
        let explicit = self.take("webauthn.rp_id", raw.rp_id);
        let origins = self.take("webauthn.origins", raw.origins);
        let Some(issuer) = issuer else {
            // The issuer's own problem is reported; nothing to derive from.
            return WebauthnSettings::Off {
                reason: "the issuer is not valid".into(),
            };
        };
        let issuer_host = match issuer.host() {
            Some(url::Host::Domain(d)) => Some(d.to_ascii_lowercase()),
            _ => None,
        };
        let rp_id = match (explicit, issuer_host) {
            (Some(id), _) => {
                if let Err(m) = check_rp_id(&id) {
                    self.problems.push("webauthn.rp_id", m);
                }
                id
            }
            (None, Some(host)) => host,
            (None, None) => {
                let host = issuer.host_str().unwrap_or_default();
                return WebauthnSettings::Off {
                    reason: format!(
                        "passkeys are off: the issuer's host {host} is an IP address, and a \
                         WebAuthn relying party needs a domain name (WebAuthn L3 5.1.4); use a \
                         name such as https://id.example.com, or http://localhost for a trial"
                    ),
                };
            }
        };
        let origins = match origins {
            None => vec![issuer.clone()],
            Some(list) => {
                let mut parsed = Vec::new();
                for (i, o) in list.iter().enumerate() {
                    match check_origin(o, &rp_id) {
                        Ok(u) => parsed.push(u),
                        Err(m) => self.problems.push(format!("webauthn.origins[{i}]"), m),
                    }
                }
                if list.is_empty() {
                    self.problems.push(
                        "webauthn.origins",
                        "must list at least one origin (leave it out for the issuer's origin)",
                    );
                }
                parsed
            }
        };
        if !within(issuer.host_str().unwrap_or_default(), &rp_id) {
            self.problems.push(
                "webauthn.rp_id",
                format!(
                    "{rp_id:?} must be the issuer's host or a parent domain of it, or the \
                     login pages could not use it"
                ),
            );
        }
        WebauthnSettings::On {
            rp_id,
            rp_name,
            origins,
        }
    }

    pub(super) fn lockout(&mut self, raw: RawLockout) -> LockoutSettings {
        let max_failures = self
            .take("lockout.max_failures", raw.max_failures)
            .unwrap_or(5);
        let ip_max_failures = self
            .take("lockout.ip_max_failures", raw.ip_max_failures)
            .unwrap_or(50);
        let client_max_failures = self
            .take("lockout.client_max_failures", raw.client_max_failures)
            .unwrap_or(20);
        let client_ip_max_failures = self
            .take("lockout.client_ip_max_failures", raw.client_ip_max_failures)
            .unwrap_or(100);
        // Failure records are purged after a day, so no window can be longer.
        let window = self.duration("lockout.window", raw.window, 15 * MINUTE, DAY);
        let base_delay = self.duration("lockout.base_delay", raw.base_delay, 30, HOUR);
        let max_delay = self.duration("lockout.max_delay", raw.max_delay, 15 * MINUTE, DAY);
        if max_delay < base_delay {
            self.problems.push(
                "lockout.max_delay",
                "must not be shorter than lockout.base_delay",
            );
        }
        LockoutSettings {
            max_failures,
            window,
            base_delay,
            max_delay,
            ip_max_failures,
            client_max_failures,
            client_ip_max_failures,
        }
    }
}

/// A relying-party id is a bare domain name: no scheme, port, path or IP address.
fn check_rp_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id != id.to_ascii_lowercase() {
        return Err("must be a lowercase domain name such as \"example.com\"".into());
    }
    match url::Host::parse(id) {
        Ok(url::Host::Domain(d)) if d == id && !id.contains(['/', ':', '@']) => Ok(()),
        Ok(url::Host::Domain(_)) | Err(_) => Err(format!(
            "{id:?} is not a domain name (no scheme, port or path: e.g. \"example.com\")"
        )),
        Ok(_) => Err(format!(
            "{id:?} is an IP address; a WebAuthn relying party needs a domain name"
        )),
    }
}

/// An allowed origin: https (or http on localhost), no path, on the relying-party id or below.
fn check_origin(raw: &str, rp_id: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    match (url.scheme(), url.host_str()) {
        ("https", _) | ("http", Some("localhost")) => {}
        _ => return Err("must be https (or http://localhost)".into()),
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be an origin: scheme, host and port only".into());
    }
    if !within(url.host_str().unwrap_or_default(), rp_id) {
        return Err(format!("its host must be {rp_id:?} or a subdomain of it"));
    }
    Ok(url)
}

/// `host` is `domain` or a subdomain of it.
fn within(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}
