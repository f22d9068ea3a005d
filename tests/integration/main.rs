//! Lanyard's integration tests: one binary, many modules. Every test starts its own server on
//! port 0 with its own database, so tests run in parallel and in any order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod rp;

mod account;
mod authorize;
mod browser;
mod cli;
mod conformance;
mod drills;
mod fake_upstream;
mod federation;
mod hardening;
mod logout;
mod mfa;
mod operations;
mod registration;
mod tokens;
