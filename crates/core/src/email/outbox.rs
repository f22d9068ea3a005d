//! Queuing mail: sealed template data in the outbox, and the security notices that follow
//! audit events.
use serde_json::{Value, json};
use uuid::Uuid;

use super::OutboxMessage;
use crate::accounts::Accounts;
use crate::model::AuditEvent;
use crate::oidc::error::{ProviderError, ProviderResult};

/// Associated data the outbox payload is sealed with: a payload cannot be moved to another row.
pub fn payload_aad(id: Uuid) -> Vec<u8> {
    [b"lanyard mail ".as_slice(), id.as_bytes()].concat()
}

/// The notice an audit event sends the account's verified address, if any. Only changes to how
/// the account signs in: a user who did not make them learns of it at once.
fn notice_for(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "password_changed" => "password_changed",
        "password_reset" => "password_reset",
        "mfa_enrolled" => "mfa_enrolled",
        "mfa_disabled" | "mfa_reset" => "mfa_removed",
        "backup_codes_regenerated" => "backup_codes_regenerated",
        "passkey_added" => "passkey_added",
        "passkey_removed" => "passkey_removed",
        "new_device_sign_in" => "new_device",
        _ => return None,
    })
}

impl Accounts {
    /// Put a message in the outbox for the worker to render (`templates/email/<kind>.*`) and
    /// send. `data` is sealed: it may hold a link. A no-op without `[email]`.
    pub async fn queue_mail(&self, kind: &str, to: &str, data: Value) -> ProviderResult<()> {
        if !self.mail_on {
            return Ok(());
        }
        let id = Uuid::now_v7();
        let plain =
            serde_json::to_vec(&data).map_err(|e| ProviderError::Internal(e.to_string()))?;
        let now = self.now();
        self.store
            .enqueue_mail(&OutboxMessage {
                id,
                kind: kind.into(),
                to: to.into(),
                payload: self.cipher.encrypt(&plain, &payload_aad(id)),
                attempts: 0,
                next_attempt_at: now,
                created_at: now,
            })
            .await?;
        tracing::debug!(kind, mail = %id, "mail queued");
        Ok(())
    }

    /// A security notice for `event`, to the user's verified address.
    pub(crate) async fn notify(&self, event: &AuditEvent) -> ProviderResult<()> {
        let (Some(notice), Some(user_id)) = (notice_for(&event.kind), event.user_id) else {
            return Ok(());
        };
        if !self.mail_on {
            return Ok(());
        }
        let Some(user) = self.store.get_user(user_id).await? else {
            return Ok(());
        };
        let (Some(to), true) = (user.email.as_deref(), user.email_verified) else {
            return Ok(());
        };
        let data = json!({
            "notice": notice,
            "username": user.username,
            "at": event.at.to_rfc3339(),
            "ip": event.ip,
            "detail": event.detail,
        });
        self.queue_mail("notice", to, data).await
    }
}
