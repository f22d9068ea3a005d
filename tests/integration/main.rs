//! Lanyard's integration tests: one binary, many modules. Every test starts its own server on
//! port 0 with its own database, so tests run in parallel and in any order.
// Tests read the wall clock freely; the server under test reads it through `Clock`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod harness;
mod rp;

mod account;
mod authorize;
mod browser;
mod cli;
mod concurrency;
mod conformance;
mod drills;
mod fake_upstream;
mod federation;
mod hardening;
mod logout;
mod mfa;
mod operations;
mod passkeys;
mod registration;
mod tokens;
