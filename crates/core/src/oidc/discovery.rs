//! OpenID Connect Discovery 1.0 §3 metadata, built once at start: it advertises exactly what is
//! implemented and nothing more.
use serde_json::{Value, json};

use crate::authn::{ACR_MFA, ACR_PWD};
use crate::model::SigningAlg;
use crate::oidc::scopes;

/// The discovery document. (Longer than most functions here by design: it is one JSON
/// literal, read best as the document it produces.)
pub fn document(
    issuer: &str,
    algs: &[SigningAlg],
    registration: bool,
    unsigned_request_objects: bool,
    pairwise: bool,
) -> Value {
    let subject_types: &[&str] = if pairwise {
        &["public", "pairwise"]
    } else {
        &["public"]
    };
    let mut object_algs: Vec<&str> = crate::oidc::jws::CLIENT_ALGS.to_vec();
    if unsigned_request_objects {
        object_algs.push("none");
    }
    let algs: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    let auth_methods = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let mut doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "scopes_supported": scopes::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": subject_types,
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "HS256"],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": scopes::CLAIMS_SUPPORTED,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": false,
        "request_object_signing_alg_values_supported": object_algs,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": [ACR_PWD, ACR_MFA],
        // OIDC Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`, and ID tokens do too.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 9207: `iss` is returned in every authorization response.
        "authorization_response_iss_parameter_supported": true,
    });
    if registration && let Some(o) = doc.as_object_mut() {
        o.insert(
            "registration_endpoint".into(),
            format!("{issuer}/register").into(),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let d = document(
            "https://id.example.com",
            &[SigningAlg::RS256, SigningAlg::EdDSA],
            false,
            false,
            false,
        );
        assert_eq!(d["issuer"], "https://id.example.com");
        assert_eq!(d["token_endpoint"], "https://id.example.com/token");
        assert_eq!(
            d["id_token_signing_alg_values_supported"],
            json!(["RS256", "EdDSA"])
        );
        assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(d["response_types_supported"], json!(["code"]));
    }
}
