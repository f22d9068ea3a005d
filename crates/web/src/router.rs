//! Routes and the middleware stack.
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::handlers::{
    account, authorize, factors, federation, login, logout, ops, passkeys, registration,
    second_step, token, wellknown,
};
use crate::input::MAX_BODY;
use crate::state::AppState;
use crate::templates::{error_page, render_error_pages};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// DESIGN §6: no inline script or style, no framing, no referrer, no sniffing. HTML pages carry
/// CSRF tokens and personal data, so nothing is cached unless a handler said otherwise.
// img-src allows https: for the logos of dynamically registered clients on the consent page.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
                   frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn hsts(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    res
}

pub(crate) async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
    )
}

/// The routes of the `[metrics] listen` listener (meant for a private address): metrics without
/// a token, and the health checks.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(not_found)
        .with_state(state)
}

/// Pages a browser visits: sessions (cookie, CSRF) live here and nowhere else.
fn browser_routes(state: &AppState) -> Router<AppState> {
    let cfg = &state.config;
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name(cfg.cookie_name.clone())
        .with_secure(cfg.secure_cookies)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            cfg.idle_timeout.num_seconds(),
        )))
        .with_always_save(true);
    Router::new()
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/login", get(login::page).post(login::submit))
        .route("/login/passkey", post(login::passkey))
        .route(
            "/consent",
            get(authorize::consent_page).post(authorize::consent_submit),
        )
        .route("/logout", get(logout::logout).post(logout::logout))
        .route(
            "/login/mfa",
            get(second_step::code_form).post(second_step::code_submit),
        )
        .route("/login/mfa/passkey", post(second_step::passkey_submit))
        .route(
            "/login/enroll",
            get(second_step::enroll_form).post(second_step::enroll_submit),
        )
        .route("/login/enroll/passkey", post(second_step::enroll_passkey))
        .route("/login/continue", get(second_step::continue_flow))
        .route("/federation/{name}/start", get(federation::start))
        .route("/federation/{name}/callback", get(federation::callback))
        .route("/federation/{name}/logged-out", get(federation::logged_out))
        .route("/account/identities/link", post(federation::link_start))
        .route("/account/identities/unlink", post(federation::unlink))
        .route("/account", get(account::page))
        .route(
            "/account/mfa/totp",
            get(factors::enroll_form).post(factors::enroll_submit),
        )
        .route("/account/mfa/backup-codes", post(factors::regenerate_codes))
        .route("/account/mfa/disable", post(factors::disable))
        .route("/account/passkeys/new", get(passkeys::add_form))
        .route("/account/passkeys", post(passkeys::add_submit))
        .route("/account/passkeys/rename", post(passkeys::rename))
        .route("/account/passkeys/remove", post(passkeys::remove))
        .route("/account/profile", post(account::profile))
        .route("/account/password", post(account::password))
        .route("/account/consents/revoke", post(account::revoke_consent))
        .route("/account/sessions/end", post(account::end_session))
        .route("/session/keepalive", post(ops::keepalive))
        .layer(sessions)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
}

/// Endpoints relying parties call. Browser-based public clients call them cross-origin; no
/// cookies are involved.
fn api_routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let api = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::discovery),
        )
        .route("/jwks", get(wellknown::jwks))
        .route("/token", post(token::token))
        .route("/register/{client_id}", get(registration::read))
        .route("/userinfo", get(token::userinfo).post(token::userinfo))
        .route("/introspect", post(token::introspect))
        .route("/revoke", post(token::revoke))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(cors.clone());
    // Registration documents get a larger limit so that an oversized one (up to 4x) is told
    // invalid_client_metadata (RFC 7591 3.2.2) by the handler rather than a bare 413.
    let registration = Router::new()
        .route("/register", post(registration::register))
        .layer(RequestBodyLimitLayer::new(4 * MAX_BODY))
        .layer(cors);
    api.merge(registration)
}

/// Health, metrics and static assets.
fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { crate::journey::see_other("/account") }))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::public_metrics))
        .route("/static/lanyard.css", get(ops::css))
        .route("/static/form_post.js", get(ops::form_post_js))
        .route("/static/passkeys.js", get(ops::passkeys_js))
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
}

pub fn router(state: AppState) -> Router {
    let mut app = browser_routes(&state)
        .merge(api_routes())
        .merge(ops_routes())
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), render_error_pages))
        .layer(from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(from_fn(security_headers));
    if state.config.secure_cookies {
        app = app.layer(from_fn(hsts));
    }
    app.layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(CatchPanicLayer::new())
        .layer(
            // Only the path is logged: query strings can carry codes and tokens.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                // Failures are logged once, with their cause, where they are mapped (error.rs);
                // a 503 under load is expected and must not flood the log.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
