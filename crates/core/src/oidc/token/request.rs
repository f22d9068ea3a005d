//! The token request, parsed once at the edge of the token endpoint (RFC 6749 4.1.3, 6, 4.4):
//! the grant type, whether this client may use it, then the grant's own parameters.
use crate::model::{Client, GrantType};
use crate::oidc::error::{ErrorKind, OAuthError};
use crate::oidc::params::Params;

/// A token request with its grant's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest<'a> {
    /// RFC 6749 4.1.3 and RFC 7636 4.5.
    AuthorizationCode {
        code: &'a str,
        redirect_uri: Option<&'a str>,
        code_verifier: Option<&'a str>,
    },
    /// RFC 6749 6: `scope` may narrow what was granted.
    RefreshToken {
        refresh_token: &'a str,
        scope: Option<&'a str>,
    },
    /// RFC 6749 4.4.
    ClientCredentials { scope: Option<&'a str> },
}

impl<'a> TokenRequest<'a> {
    /// Parse `params` for `client`. Errors in the order a client would fix them: malformed
    /// parameters, the grant type, whether the client may use it (RFC 6749 5.2
    /// `unauthorized_client`), then the grant's required parameters.
    pub fn parse(client: &Client, params: &'a Params) -> Result<Self, OAuthError> {
        if let Some(msg) = params.first_malformed() {
            return Err(OAuthError::invalid_request(msg));
        }
        let grant = match params.get("grant_type") {
            None => return Err(OAuthError::invalid_request("grant_type is required")),
            Some("authorization_code") => GrantType::AuthorizationCode,
            Some("refresh_token") => GrantType::RefreshToken,
            Some("client_credentials") => GrantType::ClientCredentials,
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorKind::UnsupportedGrantType,
                    "unsupported grant_type",
                ));
            }
        };
        // RFC 6749 4.4: only confidential clients act on their own behalf.
        let public_self = grant == GrantType::ClientCredentials && client.is_public();
        if public_self || !client.allows_grant(grant) {
            return Err(OAuthError::new(
                ErrorKind::UnauthorizedClient,
                "client may not use this grant",
            ));
        }
        let required = |key: &'static str| {
            params
                .get(key)
                .ok_or_else(|| OAuthError::invalid_request(format!("{key} is required")))
        };
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode {
                code: required("code")?,
                redirect_uri: params.get("redirect_uri"),
                code_verifier: params.get("code_verifier"),
            },
            GrantType::RefreshToken => Self::RefreshToken {
                refresh_token: required("refresh_token")?,
                scope: params.get("scope"),
            },
            GrantType::ClientCredentials => Self::ClientCredentials {
                scope: params.get("scope"),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AuthMethod;
    use crate::oidc::authorize::request::tests_support::client;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn kind(c: &Client, p: &[(&str, &str)]) -> &'static str {
        match TokenRequest::parse(c, &params(p)) {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        }
    }

    #[test]
    fn each_grant_gets_its_parameters() {
        let c = client();
        let p = params(&[
            ("grant_type", "authorization_code"),
            ("code", "abc"),
            ("redirect_uri", "https://app/cb"),
        ]);
        assert_eq!(
            TokenRequest::parse(&c, &p).unwrap(),
            TokenRequest::AuthorizationCode {
                code: "abc",
                redirect_uri: Some("https://app/cb"),
                code_verifier: None
            }
        );
    }

    #[test]
    fn errors_come_in_the_order_a_client_would_fix_them() {
        let mut c = client();
        c.grant_types = vec![GrantType::AuthorizationCode];
        assert_eq!(kind(&c, &[]), "invalid_request");
        assert_eq!(
            kind(&c, &[("grant_type", "password")]),
            "unsupported_grant_type"
        );
        // Not allowed is said before a missing parameter of that grant.
        assert_eq!(
            kind(&c, &[("grant_type", "refresh_token")]),
            "unauthorized_client"
        );
        assert_eq!(
            kind(&c, &[("grant_type", "authorization_code")]),
            "invalid_request"
        );
        c.grant_types.push(GrantType::ClientCredentials);
        c.auth_method = AuthMethod::None;
        assert_eq!(
            kind(&c, &[("grant_type", "client_credentials")]),
            "unauthorized_client",
            "public clients never act on their own behalf"
        );
        let dup = [
            ("grant_type", "authorization_code"),
            ("code", "a"),
            ("code", "b"),
        ];
        assert_eq!(kind(&c, &dup), "invalid_request");
    }
}
