//! lanyard-core: the domain and protocol of the Lanyard OpenID Provider. No HTTP, no SQL, no
//! templates: those live in lanyard-web and lanyard-store and talk to this crate through the
//! `Provider` and the storage ports in `store`.
// Unit tests may read the wall clock; production code reads `clock::Clock` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod accounts;
pub mod authn;
mod cache;
mod clients;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod federation;
pub mod fetch;
pub mod grants;
pub mod model;
pub mod oidc;
#[cfg(test)]
mod proptests;
pub mod provider;
pub mod rotation;
pub mod secret;
pub mod self_service;
pub mod store;
pub mod types;

pub use provider::{Provider, ProviderConfig};
