//! The `lanyard` binary's library half: application wiring and CLI commands, so the integration
//! tests drive the same code paths as the binary.
pub mod app;
pub mod cli;

pub use app::{App, AppError};
