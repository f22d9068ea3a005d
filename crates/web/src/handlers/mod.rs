//! HTTP handlers. Each extracts input, calls `Provider` operations (through `journey` for the
//! browser's sign-in steps) and maps the result to a response. No handler module imports
//! another: what two of them share lives in `journey`, `pages`, `extract` or `sessions`.
pub mod account;
pub mod authorize;
pub mod factors;
pub mod federation;
pub mod login;
pub mod logout;
pub mod ops;
pub mod passkeys;
pub mod registration;
pub mod second_step;
pub mod token;
pub mod wellknown;
