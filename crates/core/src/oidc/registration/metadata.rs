//! Registration metadata checked into a client (RFC 7591 2 and 3.2.2), one named check per
//! group of fields. Self-registered clients get the code flow only and are never `trusted`.
use serde_json::{Map, Value};

use super::{RegistrationError, metadata_error, redirect_error};
use crate::model::{AuthMethod, Client, GrantType, ManagedBy, SigningAlg};
use crate::oidc::scopes;
use crate::oidc::uris::check_redirect_uri;

/// Pairwise subjects at registration (OIDC Core 8.1): whether they are offered, and the
/// `sector_identifier_uri` document (a JSON array of redirect URIs) fetched for it.
#[derive(Debug, Clone, Default)]
pub struct Pairwise {
    pub supported: bool,
    pub sector_document: Option<Result<Vec<String>, String>>,
}

type Checked<T> = Result<T, RegistrationError>;

/// Validate registration metadata into a client (RFC 7591 2, 3.2.2).
pub fn client_from_metadata(
    meta: &Value,
    client_id: String,
    algorithms: &[SigningAlg],
    pairwise: &Pairwise,
) -> Checked<Client> {
    let m = meta
        .as_object()
        .ok_or_else(|| metadata_error("the request body must be a JSON object"))?;
    let auth_method = auth_method(m)?;
    let grant_types = grant_types(m)?;
    response_types(m)?;
    let public = auth_method == AuthMethod::None;
    let redirect_uris = checked_uris(m, "redirect_uris", public)?;
    if redirect_uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(redirect_error(
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    let (jwks, jwks_uri) = keys(m, auth_method)?;
    let name = opt_string(m, "client_name")?
        .map(|n| n.trim().chars().take(100).collect::<String>())
        .filter(|n| !n.is_empty());
    Ok(Client {
        name: name.unwrap_or_else(|| client_id.clone()),
        client_id,
        secret_hash: None,
        post_logout_redirect_uris: checked_uris(m, "post_logout_redirect_uris", public)?,
        pairwise_sector: subject_type(m, &redirect_uris, pairwise)?,
        backchannel_logout_uri: backchannel_logout_uri(m, &redirect_uris)?,
        redirect_uris,
        grant_types,
        auth_method,
        scopes: scopes_of(m)?,
        trusted: false,
        id_token_alg: signing_alg(m, "id_token_signed_response_alg", algorithms)?
            .unwrap_or(SigningAlg::RS256),
        require_pkce: false,
        require_mfa: false,
        backchannel_logout_session_required: m
            .get("backchannel_logout_session_required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        logo_uri: web_url(m, "logo_uri")?,
        policy_uri: web_url(m, "policy_uri")?,
        tos_uri: web_url(m, "tos_uri")?,
        jwks,
        jwks_uri,
        userinfo_signed_response_alg: signing_alg(m, "userinfo_signed_response_alg", algorithms)?,
        secret_enc: None,
        registration_token_hash: None,
        managed_by: ManagedBy::Registration,
    })
}

fn auth_method(m: &Map<String, Value>) -> Checked<AuthMethod> {
    Ok(
        match opt_string(m, "token_endpoint_auth_method")?.as_deref() {
            None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some("none") => AuthMethod::None,
            Some("private_key_jwt") => AuthMethod::PrivateKeyJwt,
            Some("client_secret_jwt") => AuthMethod::ClientSecretJwt,
            Some(other) => {
                return Err(metadata_error(format!(
                    "token_endpoint_auth_method {other:?} is not supported; use client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none"
                )));
            }
        },
    )
}

fn grant_types(m: &Map<String, Value>) -> Checked<Vec<GrantType>> {
    let mut grant_types = Vec::new();
    for g in string_list(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]) {
        let grant = match g.as_str() {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            // Self-registered clients get the code flow only: a stranger must not obtain access
            // tokens that resource servers trusting this issuer would accept.
            other => {
                return Err(metadata_error(format!(
                    "grant type {other:?} is not supported"
                )));
            }
        };
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    Ok(grant_types)
}

fn response_types(m: &Map<String, Value>) -> Checked<()> {
    for rt in string_list(m, "response_types")?.unwrap_or_else(|| vec!["code".into()]) {
        if rt != "code" {
            return Err(metadata_error(format!(
                "response type {rt:?} is not supported (code flow only)"
            )));
        }
    }
    Ok(())
}

/// Redirect URIs (or post-logout ones) in normal form, https or loopback http (RFC 8252 7.3
/// for public clients).
fn checked_uris(m: &Map<String, Value>, key: &str, public: bool) -> Checked<Vec<String>> {
    let uris = string_list(m, key)?.unwrap_or_default();
    for uri in &uris {
        check_redirect_uri(uri, public).map_err(|e| redirect_error(format!("{uri:?} {e}")))?;
    }
    Ok(uris)
}

fn scopes_of(m: &Map<String, Value>) -> Checked<Vec<String>> {
    let Some(s) = opt_string(m, "scope")? else {
        return Ok(vec!["openid".into(), "profile".into(), "email".into()]);
    };
    let list = scopes::parse(&s);
    if let Some(bad) = list
        .iter()
        .find(|s| !scopes::SUPPORTED.contains(&s.as_str()))
    {
        return Err(metadata_error(format!("scope {bad:?} is not supported")));
    }
    Ok(list)
}

/// A `*_signed_response_alg` among the provider's enabled algorithms.
fn signing_alg(
    m: &Map<String, Value>,
    key: &str,
    algorithms: &[SigningAlg],
) -> Checked<Option<SigningAlg>> {
    let Some(a) = opt_string(m, key)? else {
        return Ok(None);
    };
    match SigningAlg::parse(&a) {
        Some(alg) if algorithms.contains(&alg) => Ok(Some(alg)),
        _ => Err(metadata_error(format!("{key} {a:?} is not supported"))),
    }
}

/// OIDC Core 8.1: `subject_type` pairwise needs a sector; its identifier is returned.
fn subject_type(
    m: &Map<String, Value>,
    redirect_uris: &[String],
    pairwise: &Pairwise,
) -> Checked<Option<String>> {
    let sector_uri = web_url(m, "sector_identifier_uri")?;
    match opt_string(m, "subject_type")?.as_deref() {
        None | Some("public") => Ok(None),
        Some("pairwise") if !pairwise.supported => Err(metadata_error(
            "pairwise subjects are not offered by this provider",
        )),
        Some("pairwise") => {
            sector_identifier(sector_uri.as_deref(), redirect_uris, pairwise).map(Some)
        }
        Some(other) => Err(metadata_error(format!(
            "subject_type {other:?} is not supported"
        ))),
    }
}

/// OIDC Core 8.1: the host of `sector_identifier_uri`, whose document must list every
/// redirect URI; without one, the single host all redirect URIs share.
fn sector_identifier(
    sector_uri: Option<&str>,
    redirect_uris: &[String],
    pairwise: &Pairwise,
) -> Checked<String> {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
    };
    let Some(uri) = sector_uri else {
        let hosts: Vec<String> = redirect_uris.iter().filter_map(|u| host(u)).collect();
        return match hosts.first() {
            Some(h) if hosts.iter().all(|x| x == h) => Ok(h.clone()),
            _ => Err(metadata_error(
                "pairwise redirect URIs on several hosts need a sector_identifier_uri",
            )),
        };
    };
    let listed = match &pairwise.sector_document {
        Some(Ok(list)) => list,
        Some(Err(e)) => {
            return Err(metadata_error(format!(
                "sector_identifier_uri could not be used: {e}"
            )));
        }
        None => return Err(metadata_error("sector_identifier_uri was not fetched")),
    };
    if let Some(missing) = redirect_uris.iter().find(|r| !listed.contains(r)) {
        return Err(metadata_error(format!(
            "the sector_identifier_uri document does not list {missing:?}"
        )));
    }
    host(uri).ok_or_else(|| metadata_error("sector_identifier_uri has no host"))
}

/// Back-Channel Logout 1.0 2.2: same scheme, host and port as a registered redirect URI, so a
/// registration cannot aim logout POSTs at another host.
fn backchannel_logout_uri(
    m: &Map<String, Value>,
    redirect_uris: &[String],
) -> Checked<Option<String>> {
    let uri = web_url(m, "backchannel_logout_uri")?;
    if let Some(bcl) = &uri
        && !redirect_uris.iter().any(|r| same_origin(r, bcl))
    {
        return Err(metadata_error(
            "backchannel_logout_uri must have the scheme, host and port of a redirect URI",
        ));
    }
    Ok(uri)
}

/// The client's keys: `jwks` or `jwks_uri`, never both (RFC 7591 2); `private_key_jwt` needs
/// one of them.
fn keys(m: &Map<String, Value>, auth: AuthMethod) -> Checked<(Option<Value>, Option<String>)> {
    let jwks_uri = web_url(m, "jwks_uri")?;
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(o)) if o.get("keys").is_some_and(Value::is_array) => Some(v.clone()),
        Some(_) => return Err(metadata_error("jwks must be a JWK Set ({\"keys\": [...]})")),
    };
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(metadata_error("use jwks or jwks_uri, not both"));
    }
    if auth == AuthMethod::PrivateKeyJwt && jwks.is_none() && jwks_uri.is_none() {
        return Err(metadata_error("private_key_jwt needs jwks or jwks_uri"));
    }
    Ok((jwks, jwks_uri))
}

fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn opt_string(m: &Map<String, Value>, key: &str) -> Checked<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(metadata_error(format!("{key} is too long"))),
        Some(_) => Err(metadata_error(format!("{key} must be a string"))),
    }
}

fn string_list(m: &Map<String, Value>, key: &str) -> Checked<Option<Vec<String>>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= 32 => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| metadata_error(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!(
            "{key} must be an array of at most 32 strings"
        ))),
    }
}

/// A URL shown to users or fetched later: https, or http on a loopback host.
fn web_url(m: &Map<String, Value>, key: &str) -> Checked<Option<String>> {
    let Some(u) = opt_string(m, key)? else {
        return Ok(None);
    };
    check_redirect_uri(&u, false).map_err(|e| metadata_error(format!("{key} {e}")))?;
    Ok(Some(u))
}
