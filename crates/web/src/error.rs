//! The one place that turns failures into responses: OAuth JSON (RFC 6749 5.2, with 401 and
//! `WWW-Authenticate` for `invalid_client`), bearer errors (RFC 6750 3), or an HTML page. Causes
//! are logged here once and never written into a response body.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lanyard_core::oidc::error::{ErrorKind, OAuthError, ProviderError};
use lanyard_core::oidc::token::BearerError;
use lanyard_core::store::StoreError;

#[derive(Debug)]
pub enum WebError {
    /// An HTML error page.
    Page {
        status: StatusCode,
        title: String,
        message: String,
    },
    /// A JSON OAuth error from a token-style endpoint.
    OAuth(OAuthError),
    Bearer(BearerError),
    /// Something broke on our side; the cause is logged, the user sees a generic page.
    Internal(String),
    /// The database is unreachable.
    Unavailable(String),
    /// Too many requests (or failed attempts): come back after this long (RFC 6585 4).
    TooManyRequests(std::time::Duration),
    /// More sign-ins are waiting than the service takes on (RFC 9110 15.6.4 with Retry-After).
    Busy(std::time::Duration),
}

impl WebError {
    pub fn page(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::page(
            StatusCode::BAD_REQUEST,
            "Something is wrong with this request",
            message,
        )
    }

    pub fn csrf() -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The page was open too long or was submitted from another site. Go back, reload the page and try again.",
        )
    }

    pub fn flow_expired() -> Self {
        Self::page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Your sign-in took too long or was already completed. Return to the application and start again.",
        )
    }

    /// Map a provider error for a JSON endpoint.
    pub fn from_provider_json(e: ProviderError) -> Self {
        match e {
            ProviderError::OAuth(o) => Self::OAuth(o),
            other => Self::from(other),
        }
    }
}

/// A provider error on a browser endpoint: an OAuth error becomes a page saying what was wrong.
impl From<ProviderError> for WebError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Store(StoreError::Unavailable(m)) => Self::Unavailable(m),
            ProviderError::Throttled { retry_after } => Self::TooManyRequests(retry_after),
            ProviderError::Busy { retry_after } => Self::Busy(retry_after),
            ProviderError::OAuth(o) => Self::page(
                StatusCode::BAD_REQUEST,
                "This request can't be completed",
                o.description.to_string(),
            ),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        ProviderError::from(e).into()
    }
}

impl From<tower_sessions::session::Error> for WebError {
    fn from(e: tower_sessions::session::Error) -> Self {
        Self::Unavailable(format!("session store: {e}"))
    }
}

/// RFC 6749 5.1: token-style responses are never cached.
pub fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A JSON error body (RFC 6749 5.2 shape, also used by RFC 7591 3.2.2 and RFC 7592).
pub fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    no_store((status, axum::Json(body)).into_response())
}

/// RFC 6750 3.1 for a JSON endpoint protected by a bearer token (`/register`): 401
/// `invalid_token` with its challenge.
pub fn invalid_token_json() -> Response {
    let mut res = json_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "a valid access token is required",
    );
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    res
}

pub fn oauth_json(err: &OAuthError) -> Response {
    let status = StatusCode::from_u16(err.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut res = json_error(status, err.kind.as_str(), &err.description);
    let h = res.headers_mut();
    if err.kind == ErrorKind::InvalidClient {
        // RFC 6749 5.2: 401 with a WWW-Authenticate matching the scheme the client may use.
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"lanyard\", charset=\"UTF-8\""),
        );
    }
    res
}

fn bearer(e: &BearerError) -> Response {
    // RFC 6750 3.1.
    let (status, value) = match e {
        BearerError::InvalidToken => (
            StatusCode::UNAUTHORIZED,
            "Bearer error=\"invalid_token\", error_description=\"the access token is invalid, expired or revoked\"",
        ),
        BearerError::InsufficientScope => (
            StatusCode::FORBIDDEN,
            "Bearer error=\"insufficient_scope\", scope=\"openid\"",
        ),
        BearerError::Unavailable => return unavailable_json(),
    };
    let mut res = status.into_response();
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

fn unavailable_json() -> Response {
    oauth_json(&OAuthError::new(
        ErrorKind::TemporarilyUnavailable,
        "the service is temporarily unavailable",
    ))
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::Page {
                status,
                title,
                message,
            } => crate::templates::error_page(status, &title, &message),
            Self::OAuth(e) => oauth_json(&e),
            Self::Bearer(e) => bearer(&e),
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                crate::templates::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Lanyard hit an unexpected error. It has been logged; please try again.",
                )
            }
            Self::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                crate::templates::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "Lanyard cannot reach its database right now. Please try again in a moment.",
                )
            }
            Self::TooManyRequests(wait) => with_retry_after(
                crate::templates::error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    "Wait a few minutes, then try again.",
                ),
                wait,
            ),
            Self::Busy(wait) => with_retry_after(
                crate::templates::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Very busy right now",
                    "Many people are signing in at this moment. Wait a second, then try again.",
                ),
                wait,
            ),
        }
    }
}

/// `Retry-After` in whole seconds, at least one (RFC 9110 10.2.3).
pub fn with_retry_after(mut res: Response, wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1).to_string();
    if let Ok(v) = HeaderValue::from_str(&secs) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// 429 for a JSON endpoint. RFC 6749 defines no error code for rate limiting;
/// `temporarily_unavailable` is the closest registered one, and clients back off on it.
pub fn too_many_json(wait: std::time::Duration) -> Response {
    let mut res = oauth_json(&OAuthError::new(
        ErrorKind::TemporarilyUnavailable,
        "too many requests or failed attempts; retry later",
    ));
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    with_retry_after(res, wait)
}

/// JSON endpoints must not answer with HTML even for infrastructure failures.
pub struct JsonError(pub WebError);

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        match self.0 {
            WebError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                unavailable_json()
            }
            WebError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                oauth_json(&OAuthError::new(ErrorKind::ServerError, "internal error"))
            }
            WebError::Page { message, .. } => oauth_json(&OAuthError::invalid_request(message)),
            WebError::TooManyRequests(wait) => too_many_json(wait),
            WebError::Busy(wait) => {
                let mut res = unavailable_json();
                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                with_retry_after(res, wait)
            }
            other => other.into_response(),
        }
    }
}

impl From<WebError> for JsonError {
    fn from(e: WebError) -> Self {
        Self(e)
    }
}

impl From<ProviderError> for JsonError {
    fn from(e: ProviderError) -> Self {
        Self(WebError::from_provider_json(e))
    }
}
