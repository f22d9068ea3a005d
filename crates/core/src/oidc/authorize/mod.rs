//! The authorization endpoint (RFC 6749 4.1.1, OIDC Core 3.1.2): request validation, the
//! interactive decision (log in? ask consent?) and code issuance.
mod checks;
pub mod decide;
mod endpoint;
pub mod request;

pub use checks::MAX_REQUEST_BYTES;
pub(crate) use checks::valid_pkce_value;
pub use decide::{Decision, FlowState, decide};
pub use request::{AuthorizeError, AuthorizeRequest, Prompt, RedirectTarget, ResponseMode};
