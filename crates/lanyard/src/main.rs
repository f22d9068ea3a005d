//! The `lanyard` binary: parse arguments, run the command.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    lanyard::cli::run(lanyard::cli::Cli::parse()).await
}
