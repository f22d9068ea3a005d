//! This package only hosts Lanyard's integration test binary (`integration/`): one binary, so the
//! whole application is linked once. See `integration/harness.rs`.
