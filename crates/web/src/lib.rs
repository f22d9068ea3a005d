//! lanyard-web: the HTTP face of Lanyard. Handlers translate requests into `Provider` calls;
//! `error.rs` alone decides how failures look; pages are rendered from embedded templates.
pub mod backchannel;
pub mod error;
pub mod federation;
pub mod fetch;
pub mod handlers;
pub mod input;
pub mod metrics;
pub mod ratelimit;
pub mod router;
pub mod session_store;
pub mod sessions;
pub mod state;
pub mod templates;

pub use router::router;
pub use state::{AppState, Registration, WebConfig};
