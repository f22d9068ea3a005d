//! `lanyard-bench`: a load benchmark anyone can rerun (`scripts/bench`). It starts a release
//! `lanyard serve` on a fresh database, seeds users and a client, and drives each scenario over
//! loopback with a fixed number of concurrent connections from one client thread, printing
//! throughput, p50/p99 latency, server CPU per operation and the server's memory.
//!
//! Nothing here is a test: it measures. docs/performance.md records its results.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod flows;
mod load;
mod scale;
mod server;

use std::time::Duration;

use clap::Parser;

use crate::load::Report;
use crate::server::Server;

#[derive(Debug, Parser)]
#[command(about = "Load benchmark for Lanyard (run through scripts/bench)")]
pub struct Args {
    /// The `lanyard` binary to run (a release build).
    #[arg(long)]
    pub lanyard: std::path::PathBuf,
    /// Database: a PostgreSQL base URL (a fresh database is created under it), or none for the
    /// embedded SQLite default.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Concurrent connections per scenario.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Seed this many more users and five times as many grants, sessions and audit rows before
    /// the scenarios (e.g. 1000000); the server purges the expired half while they run.
    #[arg(long, default_value_t = 0)]
    pub scale: i64,
    /// Only the scenarios whose names contain one of these words.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl Args {
    fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| name.contains(w.as_str()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut server = Server::start(&args).await?;
    println!(
        "lanyard on {} ({}): first answer {} ms after start, idle RSS {:.1} MiB",
        server.issuer,
        server.backend,
        server.startup.as_millis(),
        server.rss_kib() as f64 / 1024.0
    );
    println!("{}", Report::header());
    let duration = Duration::from_secs(args.seconds);
    let c = args.concurrency;
    let mut rows = Vec::new();
    for (name, scenario) in flows::scenarios() {
        if !args.wants(name) {
            continue;
        }
        let report = scenario(&server, c, duration).await?;
        println!("{}", report.row(name));
        rows.push((name, report));
    }
    if args.wants("overload") {
        for row in flows::overload(&server, c, duration).await? {
            println!("{}", row.1.row(&row.0));
        }
    }
    println!(
        "peak RSS over the run: {:.1} MiB",
        server.peak_kib() as f64 / 1024.0
    );
    // Hashing memory is released after 30 s without work.
    tokio::time::sleep(Duration::from_secs(31)).await;
    println!(
        "RSS after 31 s idle: {:.1} MiB",
        server.rss_kib() as f64 / 1024.0
    );
    let restart = server.restart().await?;
    println!(
        "restart on the same database: first answer {} ms, RSS {:.1} MiB",
        restart.as_millis(),
        server.rss_kib() as f64 / 1024.0
    );
    server.stop();
    Ok(())
}
