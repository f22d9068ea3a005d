//! lanyard-web: the HTTP face of Lanyard. Handlers translate requests into `Provider` calls;
//! `journey` holds the browser's sign-in steps they share, `pages` the typed page models,
//! `error.rs` alone decides how failures look.
pub mod backchannel;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod handlers;
pub mod input;
pub mod journey;
pub mod metrics;
pub mod pages;
pub mod ratelimit;
pub mod router;
pub mod session_store;
pub mod sessions;
pub mod state;
pub mod templates;
pub mod upstream;

pub use router::router;
pub use state::{AppState, Registration, WebConfig};
