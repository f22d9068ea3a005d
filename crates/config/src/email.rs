//! `[email]` (the SMTP server mail goes through) and `[signup]` (self-registration, which needs
//! it). Without `[email]` every e-mail feature is off and the pages say to ask an administrator.
use lanyard_core::secret::Secret;
use serde::Deserialize;
use toml::Value;

use crate::raw::Field;
use crate::validate::Validator;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawEmail {
    pub smtp_url: Option<Value>,
    pub starttls: Field<String>,
    pub from: Field<String>,
    pub username: Option<Value>,
    pub password: Option<Value>,
    pub notify_new_device: Field<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawSignup {
    pub mode: Field<String>,
    pub allowed_domains: Field<Vec<String>>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS when the server offers it, else plain text.
    Opportunistic,
    /// `smtp://` with `starttls = "required"`: no mail without STARTTLS.
    StartTlsRequired,
    /// `smtp://` with `starttls = "off"`: plain text, for a relay on the same host.
    Plain,
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
}

#[derive(Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// The `From:` header, `Name <address>` or a bare address.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    /// Tell users by mail when their account signs in from a browser it has not seen before.
    pub notify_new_device: bool,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("from", &self.from)
            .field("username", &self.username.as_ref().map(|_| "[set]"))
            .field("password", &self.password.as_ref().map(|_| "[set]"))
            .field("notify_new_device", &self.notify_new_device)
            .finish()
    }
}

/// `[signup]`: whether anyone may create an account from the login page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SignupSettings {
    #[default]
    Off,
    Open,
    /// Only addresses in these domains (lowercase, exact match of the part after `@`).
    Domains(Vec<String>),
}

impl SignupSettings {
    /// Whether an address may sign up.
    pub fn allows(&self, email: &str) -> bool {
        match self {
            Self::Off => false,
            Self::Open => true,
            Self::Domains(domains) => email
                .rsplit_once('@')
                .is_some_and(|(_, d)| domains.iter().any(|x| x.eq_ignore_ascii_case(d))),
        }
    }
}

/// The address inside `Name <address>`, or the whole text; `None` when it is no plausible
/// mailbox (one `@`, something on both sides, no spaces or angle brackets).
pub fn mailbox_address(text: &str) -> Option<&str> {
    let text = text.trim();
    let address = match text.rfind('<') {
        Some(i) if text.ends_with('>') => &text[i + 1..text.len() - 1],
        Some(_) => return None,
        None => text,
    };
    let (local, domain) = address.split_once('@')?;
    let bad =
        |s: &str| s.is_empty() || s.contains(|c: char| c.is_whitespace() || "<>@,;".contains(c));
    (!bad(local) && !bad(domain) && !text.contains('\n')).then_some(address)
}

impl Validator<'_> {
    pub(crate) fn email(&mut self, raw: Option<RawEmail>) -> Option<EmailSettings> {
        let raw = raw?;
        let url = match raw.smtp_url {
            Some(v) => self.secret_string("email.smtp_url", v),
            None => {
                self.problems.push(
                    "email.smtp_url",
                    "required in [email], e.g. smtp_url = \"smtp://127.0.0.1:25\"",
                );
                None
            }
        };
        let starttls = self.take("email.starttls", raw.starttls);
        let from = self.required(
            "email.from",
            raw.from,
            "required in [email], e.g. from = \"Example ID <id@example.com>\"",
        );
        if let Some(f) = &from
            && mailbox_address(f).is_none()
        {
            self.problems
                .push("email.from", "must be an address, or \"Name <address>\"");
        }
        let mut username = raw
            .username
            .and_then(|v| self.secret_string("email.username", v));
        let mut password = raw
            .password
            .and_then(|v| self.secret_string("email.password", v));
        let notify_new_device = self
            .take("email.notify_new_device", raw.notify_new_device)
            .unwrap_or(false);
        let url = url.and_then(|u| match url::Url::parse(&u) {
            Ok(u) => Some(u),
            Err(_) => {
                // The value may hold a password: the message does not repeat it.
                self.problems
                    .push("email.smtp_url", "must be a URL like smtp://host:port");
                None
            }
        })?;
        let security = match (url.scheme(), starttls.as_deref()) {
            ("smtps", None) => SmtpSecurity::ImplicitTls,
            ("smtps", Some(_)) => {
                self.problems.push(
                    "email.starttls",
                    "applies to smtp:// only (smtps:// is TLS from the start)",
                );
                SmtpSecurity::ImplicitTls
            }
            ("smtp", None | Some("opportunistic")) => SmtpSecurity::Opportunistic,
            ("smtp", Some("required")) => SmtpSecurity::StartTlsRequired,
            ("smtp", Some("off")) => SmtpSecurity::Plain,
            ("smtp", Some(_)) => {
                self.problems.push(
                    "email.starttls",
                    "must be \"opportunistic\", \"required\" or \"off\"",
                );
                SmtpSecurity::Opportunistic
            }
            _ => {
                self.problems
                    .push("email.smtp_url", "must start with smtp:// or smtps://");
                return None;
            }
        };
        let host = match url.host_str() {
            Some(h) if !h.is_empty() => h.trim_matches(['[', ']']).to_string(),
            _ => {
                self.problems.push("email.smtp_url", "must name a host");
                return None;
            }
        };
        if url.path().len() > 1 || url.query().is_some() {
            self.problems
                .push("email.smtp_url", "must be only scheme, host and port");
        }
        // Credentials may also ride in the URL (smtp://user:pass@host), percent-encoded.
        if !url.username().is_empty() && username.is_none() {
            username = Some(percent_decode(url.username()));
        }
        if let Some(p) = url.password()
            && password.is_none()
        {
            password = Some(percent_decode(p));
        }
        if username.is_some() != password.is_some() {
            self.problems.push(
                "email.password",
                "username and password go together: set both or neither",
            );
        }
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::ImplicitTls => 465,
            _ => 587,
        });
        Some(EmailSettings {
            host,
            port,
            security,
            from: from?,
            username,
            password: password.map(Secret::new),
            notify_new_device,
        })
    }

    pub(crate) fn signup(&mut self, raw: RawSignup, email_on: bool) -> SignupSettings {
        let mode = self.take("signup.mode", raw.mode);
        let domains = self.take("signup.allowed_domains", raw.allowed_domains);
        let settings = match mode.as_deref() {
            None | Some("off") => SignupSettings::Off,
            Some("open") => SignupSettings::Open,
            Some("domains") => {
                let domains: Vec<String> = domains
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
                    .collect();
                if domains.is_empty() || domains.iter().any(|d| !d.contains('.') || d.contains('@'))
                {
                    self.problems.push(
                        "signup.allowed_domains",
                        "mode = \"domains\" needs a list of domains, e.g. [\"example.com\"]",
                    );
                }
                SignupSettings::Domains(domains)
            }
            Some(_) => {
                self.problems
                    .push("signup.mode", "must be \"off\", \"open\" or \"domains\"");
                SignupSettings::Off
            }
        };
        if domains.is_some() && !matches!(settings, SignupSettings::Domains(_)) {
            self.problems.push(
                "signup.allowed_domains",
                "applies only with mode = \"domains\"",
            );
        }
        if settings != SignupSettings::Off && !email_on {
            self.problems.push(
                "signup.mode",
                "sign-up needs [email]: a new account is usable only once its address is verified",
            );
        }
        settings
    }
}

/// `%XX` escapes of a URL's user info.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(a), Some(b)) if hex(a).is_some() && hex(b).is_some() => {
                out.push((hex(a).unwrap_or(0) * 16 + hex(b).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        assert_eq!(mailbox_address("id@example.com"), Some("id@example.com"));
        assert_eq!(
            mailbox_address("Example ID <id@example.com>"),
            Some("id@example.com")
        );
        for bad in [
            "",
            "id",
            "@example.com",
            "id@",
            "a b@c.d",
            "Name <id@x.y",
            "a@b@c",
        ] {
            assert_eq!(mailbox_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn signup_domains_match_exactly() {
        let s = SignupSettings::Domains(vec!["example.com".into()]);
        assert!(s.allows("ada@example.com"));
        assert!(s.allows("ada@EXAMPLE.com"));
        assert!(!s.allows("ada@evil-example.com"));
        assert!(!s.allows("ada@sub.example.com"));
        assert!(!SignupSettings::Off.allows("ada@example.com"));
    }

    #[test]
    fn user_info_is_percent_decoded() {
        assert_eq!(percent_decode("p%40ss%2Fword"), "p@ss/word");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
