//! The OpenID Provider protocol: OIDC Core 1.0, Discovery 1.0, RFC 6749/7636/7009/7662/9068/9207,
//! dynamic registration (RFC 7591/7592).
pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod client_gate;
pub mod discovery;
pub mod error;
pub mod hint;
pub mod jws;
pub mod keys;
pub mod logout;
pub mod params;
pub mod registration;
pub mod request_object;
pub mod scopes;
pub mod token;
pub mod uris;
