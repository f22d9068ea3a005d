//! Prometheus metrics in the text exposition format, kept by hand: a few counters do not need a
//! metrics crate in the build.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

#[derive(Default)]
pub struct Metrics {
    /// (route, status) → count
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route → (count, total seconds)
    durations: Mutex<BTreeMap<String, (u64, f64)>>,
    /// (event, outcome) → count, e.g. ("login", "success"), ("token", "authorization_code")
    events: Mutex<BTreeMap<(String, String), u64>>,
}

impl Metrics {
    pub fn event(&self, name: &str, outcome: &str) {
        let mut m = self.events.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((name.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    fn request(&self, route: &str, status: u16, secs: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route.to_string(), status))
            .or_default() += 1;
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let e = d.entry(route.to_string()).or_default();
        e.0 += 1;
        e.1 += secs;
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP lanyard_http_requests_total HTTP requests by route and status.\n# TYPE lanyard_http_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "lanyard_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP lanyard_http_request_duration_seconds Time spent serving requests.\n# TYPE lanyard_http_request_duration_seconds summary\n");
        for (route, (n, secs)) in self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "lanyard_http_request_duration_seconds_sum{{route=\"{route}\"}} {secs:.6}\n"
            ));
            out.push_str(&format!(
                "lanyard_http_request_duration_seconds_count{{route=\"{route}\"}} {n}\n"
            ));
        }
        out.push_str("# HELP lanyard_events_total Logins, token issuance and other protocol events.\n# TYPE lanyard_events_total counter\n");
        for ((name, outcome), n) in self.events.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push_str(&format!(
                "lanyard_events_total{{event=\"{name}\",outcome=\"{outcome}\"}} {n}\n"
            ));
        }
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
            out.push_str(&format!("process_resident_memory_bytes {rss}\n"));
        }
        out.push_str(&format!(
            "# TYPE lanyard_build_info gauge\nlanyard_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        ));
        out
    }
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Counts every request by its route template (never the raw path: no ids or tokens in labels).
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let res = next.run(req).await;
    s.metrics
        .request(&route, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}
