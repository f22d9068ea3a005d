//! Row structs shared by both backends, and their conversion into domain records.
//!
//! Each struct gets a `sqlx::FromRow` impl that is generic over the row type, exactly what
//! `#[derive(sqlx::FromRow)]` would generate. The derive lives behind sqlx's `derive` feature,
//! which pulls in `sqlx-macros` and compiles the SQLite and PostgreSQL drivers a second time for
//! the proc-macro host, so the small `row!` macro below stands in for it.
use chrono::{DateTime, SubsecRound, Utc};
use lanyard_core::model::{
    AuditEvent, AuthCode, Client, Consent, FailureCount, FederatedIdentity, Grant,
    PasskeyCredential, RefreshToken, SessionRecord, SigningAlg, SigningKeyRecord, TotpCredential,
    User,
};
use lanyard_core::oidc::claims::ClaimsRequest;
use lanyard_core::store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

macro_rules! row {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub(crate) struct $name {
            $(pub(crate) $field: $ty,)*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $name
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self { $($field: row.try_get(stringify!($field))?,)* })
            }
        }
    };
}

/// Every timestamp is truncated to microseconds before it is bound: that is PostgreSQL's
/// TIMESTAMPTZ precision, so both backends round-trip the same value, and SQLite's RFC 3339 text
/// never carries more than six fractional digits.
pub(crate) fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

pub(crate) fn ts_opt(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.map(ts)
}

/// Scopes and amr values are space-separated tokens (RFC 6749 3.3), stored as one TEXT column.
pub(crate) fn join_list(items: &[String]) -> String {
    items.join(" ")
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// `COUNT(*)` is BIGINT on PostgreSQL and INTEGER on SQLite: an i64 that is never negative.
pub(crate) fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}

row!(UserRow {
    id: Uuid,
    username: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    phone_number: Option<String>,
    phone_number_verified: bool,
    address: Option<String>,
    password_hash: Option<String>,
    disabled: bool,
    session_epoch: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
});

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            given_name: r.given_name,
            family_name: r.family_name,
            phone_number: r.phone_number,
            phone_number_verified: r.phone_number_verified,
            address: r.address,
            password_hash: r.password_hash,
            disabled: r.disabled,
            session_epoch: r.session_epoch,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

row!(ClientRow {
    client_id: String,
    secret_hash: Option<Vec<u8>>,
    metadata: Json<Client>,
});

impl From<ClientRow> for Client {
    fn from(r: ClientRow) -> Self {
        let Json(mut client) = r.metadata;
        // The columns are authoritative for the two fields kept outside the JSON.
        client.client_id = r.client_id;
        client.secret_hash = r.secret_hash;
        client
    }
}

row!(GrantRow {
    id: Uuid,
    client_id: String,
    user_id: Option<Uuid>,
    scopes: String,
    sid: Option<String>,
    auth_time: Option<DateTime<Utc>>,
    amr: String,
    acr: Option<String>,
    nonce: Option<String>,
    claims: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
});

impl From<GrantRow> for Grant {
    fn from(r: GrantRow) -> Self {
        Grant {
            id: r.id,
            client_id: r.client_id,
            user_id: r.user_id,
            scopes: split_list(&r.scopes),
            sid: r.sid,
            auth_time: r.auth_time,
            amr: split_list(&r.amr),
            acr: r.acr,
            nonce: r.nonce,
            claims: r.claims.as_deref().and_then(ClaimsRequest::from_json),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

row!(CodeRow {
    code_hash: Vec<u8>,
    grant_id: Uuid,
    client_id: String,
    user_id: Uuid,
    redirect_uri: String,
    code_challenge: Option<String>,
    nonce: Option<String>,
    scopes: String,
    claims: Option<String>,
    sid: String,
    auth_time: DateTime<Utc>,
    amr: String,
    acr: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
});

impl From<CodeRow> for AuthCode {
    fn from(r: CodeRow) -> Self {
        AuthCode {
            code_hash: r.code_hash,
            grant_id: r.grant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            code_challenge: r.code_challenge,
            nonce: r.nonce,
            scopes: split_list(&r.scopes),
            claims: r.claims.as_deref().and_then(ClaimsRequest::from_json),
            sid: r.sid,
            auth_time: r.auth_time,
            amr: split_list(&r.amr),
            acr: r.acr,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

row!(RefreshRow {
    token_hash: Vec<u8>,
    grant_id: Uuid,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    successor_enc: Option<Vec<u8>>,
});

impl From<RefreshRow> for RefreshToken {
    fn from(r: RefreshRow) -> Self {
        RefreshToken {
            token_hash: r.token_hash,
            grant_id: r.grant_id,
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
            successor_enc: r.successor_enc,
        }
    }
}

row!(
    /// Just the grant a single-use value belongs to (the `AlreadyUsed` lookup).
    GrantIdRow { grant_id: Uuid }
);

row!(ConsentRow {
    user_id: Uuid,
    client_id: String,
    scopes: String,
    granted_at: DateTime<Utc>,
});

impl From<ConsentRow> for Consent {
    fn from(r: ConsentRow) -> Self {
        Consent {
            user_id: r.user_id,
            client_id: r.client_id,
            scopes: split_list(&r.scopes),
            granted_at: r.granted_at,
        }
    }
}

row!(KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_enc: Vec<u8>,
    created_at: DateTime<Utc>,
    activates_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
});

impl TryFrom<KeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        let alg = SigningAlg::parse(&r.alg).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "signing key {}: unknown algorithm {:?}",
                r.kid, r.alg
            ))
        })?;
        Ok(SigningKeyRecord {
            kid: r.kid,
            alg,
            public_jwk: r.public_jwk,
            private_enc: r.private_enc,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retired_at: r.retired_at,
        })
    }
}

row!(SessionRow {
    id_hash: Vec<u8>,
    user_id: Option<Uuid>,
    epoch: i64,
    data: Vec<u8>,
    expires_at: DateTime<Utc>,
});

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id_hash: r.id_hash,
            user_id: r.user_id,
            epoch: r.epoch,
            data: r.data,
            expires_at: r.expires_at,
        }
    }
}

row!(EpochRow { session_epoch: i64 });

row!(CountRow { n: i64 });

row!(AuditRow {
    id: Uuid,
    at: DateTime<Utc>,
    kind: String,
    user_id: Option<Uuid>,
    client_id: Option<String>,
    ip: Option<String>,
    detail: Json<serde_json::Value>,
});

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            at: r.at,
            kind: r.kind,
            user_id: r.user_id,
            client_id: r.client_id,
            ip: r.ip,
            detail: r.detail.0,
        }
    }
}

row!(TotpRow {
    user_id: Uuid,
    secret_enc: Vec<u8>,
    last_step: Option<i64>,
    created_at: DateTime<Utc>,
});

impl From<TotpRow> for TotpCredential {
    fn from(r: TotpRow) -> Self {
        TotpCredential {
            user_id: r.user_id,
            secret_enc: r.secret_enc,
            last_step: r.last_step,
            created_at: r.created_at,
        }
    }
}

row!(PasskeyRow {
    id: Uuid,
    user_id: Uuid,
    credential_id: Vec<u8>,
    name: String,
    credential: String,
    counter: i64,
    backup_eligible: bool,
    backup_state: bool,
    aaguid: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
});

impl From<PasskeyRow> for PasskeyCredential {
    fn from(r: PasskeyRow) -> Self {
        PasskeyCredential {
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            name: r.name,
            credential: r.credential,
            counter: r.counter,
            backup_eligible: r.backup_eligible,
            backup_state: r.backup_state,
            aaguid: r.aaguid,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

row!(
    /// `COUNT(*) AS n, MAX(at) AS last_at` over a subject's recent failures.
    FailureRow {
        n: i64,
        pending: i64,
        last_at: Option<DateTime<Utc>>,
    }
);

row!(
    /// `FailureRow` of one subject among several.
    SubjectFailureRow {
        subject: String,
        n: i64,
        pending: i64,
        last_at: Option<DateTime<Utc>>,
    }
);

impl TryFrom<FailureRow> for FailureCount {
    type Error = StoreError;

    fn try_from(r: FailureRow) -> Result<Self, StoreError> {
        Ok(FailureCount {
            count: count(r.n)?,
            pending: count(r.pending)?,
            last_at: r.last_at,
        })
    }
}

row!(
    /// One group and how many members it has.
    GroupCountRow { group_name: String, members: i64 }
);

row!(IdentityRow {
    upstream: String,
    subject: String,
    user_id: Uuid,
    email: Option<String>,
    created_at: DateTime<Utc>,
    last_login_at: DateTime<Utc>,
});

impl From<IdentityRow> for FederatedIdentity {
    fn from(r: IdentityRow) -> Self {
        FederatedIdentity {
            upstream: r.upstream,
            subject: r.subject,
            user_id: r.user_id,
            email: r.email,
            created_at: r.created_at,
            last_login_at: r.last_login_at,
        }
    }
}
