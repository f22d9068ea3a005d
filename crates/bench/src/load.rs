//! Closed-loop load: `concurrency` workers, each sending its next request when the previous one
//! answered, for a fixed time; latencies of every operation, outcomes counted.
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::reqwest;

use crate::server::Server;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1024)
        .build()
        .expect("HTTP client")
}

/// How one operation ended.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    /// 429 or 503: the server said "not now".
    Refused,
    Failed(String),
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    refused: u64,
    failed: u64,
    first_failure: Option<String>,
}

#[derive(Debug)]
pub struct Report {
    pub ok: u64,
    pub refused: u64,
    pub failed: u64,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub cpu_per_op: Duration,
    pub peak_mib: f64,
    pub first_failure: Option<String>,
}

impl Report {
    pub fn header() -> String {
        format!(
            "{:<38} {:>8} {:>9} {:>8} {:>8} {:>10} {:>8} {:>7} {:>9}",
            "scenario",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "CPU ms/op",
            "refused",
            "failed",
            "peak MiB"
        )
    }

    pub fn row(&self, name: &str) -> String {
        let mut line = format!(
            "{:<38} {:>8} {:>9.0} {:>8.2} {:>8.2} {:>10.3} {:>8} {:>7} {:>9.1}",
            name,
            self.ok,
            self.per_second,
            ms(self.p50),
            ms(self.p99),
            ms(self.cpu_per_op),
            self.refused,
            self.failed,
            self.peak_mib
        );
        if let Some(f) = &self.first_failure {
            line.push_str(&format!("\n    first failure: {f}"));
        }
        line
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Run `op(worker, n)` from `concurrency` workers for `duration`.
pub async fn run<F, Fut>(server: &Server, concurrency: usize, duration: Duration, op: F) -> Report
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    server.reset_peak();
    let op = Arc::new(op);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu_before = server.cpu();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (op, tally) = (op.clone(), tally.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let outcome = op(w, n).await;
                let took = t.elapsed();
                let mut tally = tally.lock().unwrap();
                match outcome {
                    Outcome::Ok => tally.latencies.push(took),
                    Outcome::Refused => tally.refused += 1,
                    Outcome::Failed(why) => {
                        tally.failed += 1;
                        tally.first_failure.get_or_insert(why);
                    }
                }
                n += 1;
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let cpu = server.cpu().saturating_sub(cpu_before);
    let mut tally = std::mem::take(&mut *tally.lock().unwrap());
    tally.latencies.sort();
    let ok = tally.latencies.len() as u64;
    let pct = |p: f64| {
        let i = ((ok as f64 - 1.0) * p).round() as usize;
        tally.latencies.get(i).copied().unwrap_or_default()
    };
    let done = (ok + tally.refused + tally.failed).max(1);
    Report {
        ok,
        refused: tally.refused,
        failed: tally.failed,
        per_second: ok as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        cpu_per_op: cpu / done as u32,
        peak_mib: server.peak_kib() as f64 / 1024.0,
        first_failure: tally.first_failure,
    }
}

/// The outcome of a response expected to have `status`.
pub fn expect(
    res: Result<reqwest::Response, reqwest::Error>,
    status: u16,
) -> Result<reqwest::Response, Outcome> {
    match res {
        Ok(r) if r.status().as_u16() == status => Ok(r),
        Ok(r) if matches!(r.status().as_u16(), 429 | 503) => Err(Outcome::Refused),
        Ok(r) => Err(Outcome::Failed(format!("HTTP {}", r.status().as_u16()))),
        Err(e) => Err(Outcome::Failed(e.to_string())),
    }
}
