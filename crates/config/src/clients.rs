//! `[[clients]]`: relying parties declared in the file, turned into `lanyard_core::model::Client`
//! (`managed_by = "config"`) for reconciliation into the store. Secrets are kept only as SHA-256.
use std::collections::HashMap;

use lanyard_core::model::{AuthMethod, Client, GrantType, SigningAlg};
use lanyard_core::secret::sha256;

use crate::raw::{Field, RawClient};
use crate::uri;
use crate::validate::Validator;
use lanyard_core::types::ClientId;

/// Scopes a client may be allowed (OIDC Core 5.4 and 11, plus `groups`): what the provider
/// understands.
pub use lanyard_core::oidc::scopes::SUPPORTED as ALLOWED_SCOPES;
/// A shorter secret is too easy to guess for something that is checked with a fast hash.
pub const MIN_SECRET_LEN: usize = 16;
const GRANTS: [GrantType; 3] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::ClientCredentials,
];

impl Validator<'_> {
    pub(crate) fn clients(
        &mut self,
        raw: Vec<(usize, RawClient)>,
        algorithms: &[SigningAlg],
    ) -> Vec<Client> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut clients = Vec::new();
        for (i, raw) in raw {
            let path = format!("clients[{i}]");
            let Some(client) = self.client(&path, raw, algorithms) else {
                continue;
            };
            if let Some(first) = seen.get(&client.client_id) {
                let message = format!(
                    "duplicate client_id {:?} (also clients[{first}])",
                    client.client_id
                );
                self.problems.push(format!("{path}.client_id"), message);
                continue;
            }
            seen.insert(client.client_id.clone(), i);
            clients.push(client);
        }
        clients
    }

    /// One `[[clients]]` entry. (Most of its length is the `Client` literal: every field is
    /// set here, so a new one cannot be forgotten.)
    fn client(&mut self, path: &str, raw: RawClient, algorithms: &[SigningAlg]) -> Option<Client> {
        let at = |key: &str| format!("{path}.{key}");
        let client_id = self.client_id(&at("client_id"), raw.client_id);
        let name = self.take(&at("name"), raw.name);
        if name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            self.problems.push(
                at("name"),
                "must not be empty (leave it out to use the client_id)",
            );
        }
        let auth_method = self
            .take(&at("auth_method"), raw.auth_method)
            .unwrap_or_default();
        if matches!(
            auth_method,
            AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt
        ) {
            self.problems.push(
                at("auth_method"),
                "private_key_jwt and client_secret_jwt clients are registered dynamically ([registration])",
            );
        }
        let public = auth_method == AuthMethod::None;
        let secret_hash = self.client_secret(path, raw.secret, raw.secret_sha256, public);

        let grant_types = self.grant_types(&at("grant_types"), raw.grant_types, public);
        let redirect_uris = self.redirect_uris(&at("redirect_uris"), raw.redirect_uris, public);
        if redirect_uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
            self.problems.push(
                at("redirect_uris"),
                "required when grant_types includes authorization_code",
            );
        }
        let post_logout_redirect_uris = self.redirect_uris(
            &at("post_logout_redirect_uris"),
            raw.post_logout_redirect_uris,
            public,
        );
        let scopes = self.scopes(&at("scopes"), raw.scopes);

        let id_token_alg = self.id_token_alg(
            &at("id_token_signed_response_alg"),
            raw.id_token_signed_response_alg,
            algorithms,
        );
        let trusted = self.take(&at("trusted"), raw.trusted).unwrap_or(false);
        let require_mfa = self
            .take(&at("require_mfa"), raw.require_mfa)
            .unwrap_or(false);
        let backchannel_logout_uri =
            self.backchannel_logout_uri(&at("backchannel_logout_uri"), raw.backchannel_logout_uri);
        let backchannel_logout_session_required = self
            .take(
                &at("backchannel_logout_session_required"),
                raw.backchannel_logout_session_required,
            )
            .unwrap_or(false);
        let require_pkce = self
            .take(&at("require_pkce"), raw.require_pkce)
            .unwrap_or(false);

        let client_id = client_id?;
        Some(Client {
            name: name.unwrap_or_else(|| client_id.clone()),
            client_id,
            secret_hash,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            auth_method,
            scopes,
            trusted,
            id_token_alg,
            require_pkce,
            require_mfa,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            jwks: None,
            jwks_uri: None,
            userinfo_signed_response_alg: None,
            pairwise_sector: None,
            secret_enc: None,
            registration_token_hash: None,
            managed_by: lanyard_core::model::ManagedBy::Config,
        })
    }

    fn client_id(&mut self, path: &str, raw: Field<String>) -> Option<String> {
        let client_id = self.required(path, raw, "required")?;
        match ClientId::parse(&client_id) {
            Ok(id) => Some(id.into_string()),
            Err(message) => {
                self.problems.push(path, message);
                None
            }
        }
    }

    /// An enabled signing algorithm; RS256 when absent (or after a problem).
    fn id_token_alg(
        &mut self,
        path: &str,
        raw: Field<String>,
        algorithms: &[SigningAlg],
    ) -> SigningAlg {
        let alg_name = self.take(path, raw);
        match alg_name.as_deref().map(|n| (n, SigningAlg::parse(n))) {
            None => SigningAlg::RS256,
            Some((_, Some(alg))) if algorithms.contains(&alg) => alg,
            Some((name, Some(_))) => {
                let message = format!("{name} is not enabled in signing.algorithms");
                self.problems.push(path, message);
                SigningAlg::RS256
            }
            Some((name, None)) => {
                let message = format!("unknown algorithm {name:?}; allowed: RS256, ES256, EdDSA");
                self.problems.push(path, message);
                SigningAlg::RS256
            }
        }
    }

    fn backchannel_logout_uri(&mut self, path: &str, raw: Field<String>) -> Option<String> {
        let uri = self.take(path, raw);
        if let Some(u) = &uri
            && let Err(m) = uri::check_redirect_uri(u, false)
        {
            self.problems.push(path, m);
        }
        uri
    }

    /// Confidential clients need exactly one of `secret` / `secret_sha256`; public ones neither.
    fn client_secret(
        &mut self,
        path: &str,
        secret: Option<toml::Value>,
        sha: crate::raw::Field<String>,
        public: bool,
    ) -> Option<Vec<u8>> {
        let sha = self.take(&format!("{path}.secret_sha256"), sha);
        match (secret, sha) {
            (Some(_), _) if public => {
                let message = "not allowed for a public client (auth_method = \"none\")";
                self.problems.push(format!("{path}.secret"), message);
                None
            }
            (None, Some(_)) if public => {
                let message = "not allowed for a public client (auth_method = \"none\")";
                self.problems.push(format!("{path}.secret_sha256"), message);
                None
            }
            (Some(_), Some(_)) => {
                self.problems.push(
                    format!("{path}.secret_sha256"),
                    "set either secret or secret_sha256, not both",
                );
                None
            }
            (None, None) if public => None,
            (None, None) => {
                let message = "required unless auth_method = \"none\" (or give secret_sha256)";
                self.problems.push(format!("{path}.secret"), message);
                None
            }
            (Some(value), None) => {
                let path = format!("{path}.secret");
                let secret = self.secret_string(&path, value)?;
                if secret.chars().count() < MIN_SECRET_LEN {
                    let message = format!(
                        "must be at least {MIN_SECRET_LEN} characters; generate one with `openssl rand -base64 32`"
                    );
                    self.problems.push(path, message);
                }
                Some(sha256(secret.as_bytes()).to_vec())
            }
            (None, Some(hex)) => {
                let bytes = decode_sha256_hex(&hex);
                if bytes.is_none() {
                    self.problems.push(
                        format!("{path}.secret_sha256"),
                        "must be 64 hex digits (a SHA-256 digest)",
                    );
                }
                bytes
            }
        }
    }

    fn grant_types(
        &mut self,
        path: &str,
        field: crate::raw::Field<Vec<String>>,
        public: bool,
    ) -> Vec<GrantType> {
        let Some(names) = self.take(path, field) else {
            return vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
        };
        let mut grants = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match GRANTS.into_iter().find(|g| g.as_str() == name) {
                Some(GrantType::ClientCredentials) if public => self.problems.push(
                    format!("{path}[{i}]"),
                    "client_credentials needs a confidential client (auth_method is \"none\")",
                ),
                Some(g) if !grants.contains(&g) => grants.push(g),
                Some(_) => {}
                None => self.problems.push(
                    format!("{path}[{i}]"),
                    format!("unknown grant type {name:?}; allowed: authorization_code, refresh_token, client_credentials"),
                ),
            }
        }
        if names.is_empty() {
            self.problems
                .push(path, "must list at least one grant type");
        }
        grants
    }

    fn redirect_uris(
        &mut self,
        path: &str,
        field: crate::raw::Field<Vec<String>>,
        public: bool,
    ) -> Vec<String> {
        let uris = self.take(path, field).unwrap_or_default();
        for (i, u) in uris.iter().enumerate() {
            if let Err(message) = uri::check_redirect_uri(u, public) {
                self.problems.push(format!("{path}[{i}]"), message);
            }
        }
        uris
    }

    fn scopes(&mut self, path: &str, field: crate::raw::Field<Vec<String>>) -> Vec<String> {
        let Some(names) = self.take(path, field) else {
            return ["openid", "profile", "email"].map(String::from).to_vec();
        };
        let mut scopes: Vec<String> = Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            if !ALLOWED_SCOPES.contains(&name.as_str()) {
                let message = format!(
                    "unknown scope {name:?}; allowed: {}",
                    ALLOWED_SCOPES.join(" ")
                );
                self.problems.push(format!("{path}[{i}]"), message);
            } else if !scopes.contains(&name) {
                scopes.push(name);
            }
        }
        scopes
    }
}

fn decode_sha256_hex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}
