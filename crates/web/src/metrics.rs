//! Prometheus metrics with `prometheus-client`: lock-free counters and histograms on the hot
//! path (a label set here is a few `&'static str`, so recording allocates nothing), gauges read
//! at scrape time, and the standard `process_*` metrics. Also the access log.
use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::state::AppState;

mod process;

/// Request latency buckets, in seconds: sub-millisecond token answers up to slow sign-ins.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Scrape-time gauges: set from `Provider::load` and a session count just before encoding.
#[derive(Default)]
struct Gauges {
    hashes_in_flight: Gauge,
    attempts_waiting: Gauge,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    sessions_active: Gauge,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    events: Family<EventLabels, Counter>,
    gauges: Gauges,
    /// One `info` line per request (`[logging] access`).
    access_log: bool,
}

impl Metrics {
    pub fn new(access_log: bool) -> Self {
        // No registry prefix: it would also rename the standard process_* metrics.
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let logins = Family::<LoginLabels, Counter>::default();
        let tokens = Family::<TokenLabels, Counter>::default();
        let events = Family::<EventLabels, Counter>::default();
        let gauges = Gauges::default();
        registry.register(
            "lanyard_http_requests",
            "HTTP requests by route template and status",
            requests.clone(),
        );
        registry.register(
            "lanyard_http_request_duration_seconds",
            "Time to answer a request, by route template",
            latency.clone(),
        );
        registry.register(
            "lanyard_logins",
            "Password and second-factor steps by outcome and failure reason",
            logins.clone(),
        );
        registry.register(
            "lanyard_tokens",
            "Token endpoint answers by grant type and OAuth error code",
            tokens.clone(),
        );
        registry.register(
            "lanyard_events",
            "Other protocol events (federation, authorization, client authentication)",
            events.clone(),
        );
        let g = &gauges;
        for (name, help, gauge) in [
            (
                "lanyard_password_hashes_in_flight",
                "Password hashes queued or running",
                &g.hashes_in_flight,
            ),
            (
                "lanyard_login_attempts_waiting",
                "Sign-in attempts waiting for a slot of their account or address",
                &g.attempts_waiting,
            ),
            (
                "lanyard_db_pool_connections",
                "Open database connections",
                &g.pool_connections,
            ),
            (
                "lanyard_db_pool_idle_connections",
                "Idle database connections",
                &g.pool_idle,
            ),
            (
                "lanyard_db_pool_max_connections",
                "Largest database pool size",
                &g.pool_max,
            ),
            (
                "lanyard_sessions_active",
                "Browser sessions not yet expired (all replicas)",
                &g.sessions_active,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        registry.register_collector(Box::new(BuildInfo));
        Self {
            registry,
            requests,
            latency,
            logins,
            tokens,
            events,
            gauges,
            access_log,
        }
    }

    /// A password or second-factor step: `outcome` "success", "failure" or "busy"; `reason` a
    /// `LoginFailure::reason` or "".
    pub fn login(&self, outcome: &'static str, reason: &'static str) {
        self.logins
            .get_or_create(&LoginLabels { outcome, reason })
            .inc();
    }

    /// A password or second-factor step that got no verdict: "busy" (a 503 to come back
    /// later) or "error".
    pub fn login_error(&self, e: &lanyard_core::oidc::error::ProviderError) {
        let outcome = match e {
            lanyard_core::oidc::error::ProviderError::Busy { .. } => "busy",
            _ => "error",
        };
        self.login(outcome, "");
    }

    /// A token endpoint answer; `error` is the OAuth error code, or "" on success.
    pub fn token(&self, grant_type: &str, error: &'static str) {
        let grant_type = match grant_type {
            "authorization_code" => "authorization_code",
            "refresh_token" => "refresh_token",
            "client_credentials" => "client_credentials",
            // Anything a client made up is one label, not one series per string.
            _ => "other",
        };
        self.tokens
            .get_or_create(&TokenLabels { grant_type, error })
            .inc();
    }

    pub fn event(&self, event: &'static str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabels { event, outcome })
            .inc();
    }

    fn request(&self, route: &'static str, status: u16, secs: f64) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(secs);
    }

    /// The OpenMetrics text of everything, with the gauges read now.
    pub async fn render(&self, s: &AppState) -> String {
        let load = s.provider.load();
        let g = &self.gauges;
        g.hashes_in_flight.set(as_i64(load.hashes_in_flight));
        g.attempts_waiting.set(as_i64(load.attempts_waiting));
        g.pool_connections.set(load.pool.size.into());
        g.pool_idle.set(load.pool.idle.into());
        g.pool_max.set(load.pool.max.into());
        // A failed count leaves the last value; /readyz reports the database.
        if let Ok(n) = s.provider.active_sessions().await {
            g.sessions_active.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics could not be encoded");
        }
        out
    }
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `lanyard_build_info{version="…"} 1`.
#[derive(Debug)]
struct BuildInfo;

impl prometheus_client::collector::Collector for BuildInfo {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let info = prometheus_client::metrics::info::Info::new(vec![(
            "version",
            env!("CARGO_PKG_VERSION"),
        )]);
        let m = encoder.encode_descriptor(
            "lanyard_build",
            "Lanyard version",
            None,
            info.metric_type(),
        )?;
        info.encode(m)
    }
}

/// Route templates seen so far, as `&'static str` for label sets. The router's templates are a
/// fixed, small set (never raw paths: no ids or tokens in labels), so this stays bounded.
static ROUTES: RwLock<Option<HashSet<&'static str>>> = RwLock::new(None);

fn route_label(path: Option<&str>) -> &'static str {
    let Some(path) = path else {
        return "unmatched";
    };
    if let Some(known) = ROUTES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|r| r.get(path))
    {
        return known;
    }
    let mut routes = ROUTES.write().unwrap_or_else(|e| e.into_inner());
    let routes = routes.get_or_insert_with(HashSet::new);
    if let Some(known) = routes.get(path) {
        return known;
    }
    let leaked: &'static str = Box::leak(path.to_owned().into_boxed_str());
    routes.insert(leaked);
    leaked
}

/// Counts and times every request by its route template, and writes the access log line.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_label(
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let method = req.method().clone();
    let start = Instant::now();
    let res = next.run(req).await;
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    s.metrics.request(route, status, elapsed.as_secs_f64());
    if s.metrics.access_log {
        // Inside the request span, which carries the request id. The route template, never
        // the raw path or query: those can carry codes and tokens.
        tracing::info!(
            target: "lanyard::access",
            method = %method,
            route,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_are_interned_once() {
        assert_eq!(route_label(None), "unmatched");
        let first = route_label(Some(&String::from("/token")));
        let again = route_label(Some(&String::from("/token")));
        assert_eq!(first, "/token");
        assert!(std::ptr::eq(first, again), "one leaked copy per template");
    }
}
