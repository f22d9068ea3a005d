//! OAuth 2.0 / OIDC protocol errors. Core returns these; the web layer alone decides whether one
//! becomes a JSON body (RFC 6749 5.2), a redirect to a *validated* redirect URI (RFC 6749 4.1.2.1)
//! or an HTML page.
use std::borrow::Cow;

use crate::store::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    // OIDC Core 3.1.2.6
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    // OIDC Core 3.1.2.6 / RFC 9101 6.3
    InvalidRequestObject,
    InvalidRequestUri,
    // RFC 6750 3.1
    InvalidToken,
    // RFC 7009 2.2.1
    UnsupportedTokenType,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidToken => "invalid_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
        }
    }

    /// HTTP status for JSON error responses (RFC 6749 5.2, RFC 6750 3.1).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub kind: ErrorKind,
    /// Human-readable, safe to show the client: never contains a secret or stored value.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(kind: ErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidGrant, d)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorKind::InvalidClient, "client authentication failed")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.description)
    }
}

/// What can go wrong inside a protocol operation.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
    /// Too many failed attempts from this client or address: refused, unverified, for this long.
    #[error("throttled for {retry_after:?}")]
    Throttled { retry_after: std::time::Duration },
    /// More sign-ins are waiting than the service takes on: come back after this long (a 503,
    /// not a verdict on the credentials).
    #[error("busy; retry after {retry_after:?}")]
    Busy { retry_after: std::time::Duration },
}

impl From<crate::authn::password::PasswordError> for ProviderError {
    fn from(e: crate::authn::password::PasswordError) -> Self {
        match e {
            crate::authn::password::PasswordError::Busy => Self::busy(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<OAuthError> for ProviderError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl ProviderError {
    /// Refused until `until` (a throttle's verdict), said as the wait from `now`: at least a
    /// second (RFC 9110 10.2.3 `Retry-After` counts whole seconds).
    pub fn throttled(
        until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let secs = (until - now).num_seconds().max(1).unsigned_abs();
        Self::Throttled {
            retry_after: std::time::Duration::from_secs(secs),
        }
    }

    /// The sign-in queue is full; a second is a fair wait at the hashing rate.
    pub fn busy() -> Self {
        Self::Busy {
            retry_after: std::time::Duration::from_secs(1),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    /// The OAuth error a client sees for this failure.
    pub fn to_oauth(&self) -> OAuthError {
        match self {
            Self::OAuth(e) => e.clone(),
            Self::Store(StoreError::Unavailable(_)) => OAuthError::new(
                ErrorKind::TemporarilyUnavailable,
                "the service is temporarily unavailable",
            ),
            _ => OAuthError::new(ErrorKind::ServerError, "internal error"),
        }
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;
