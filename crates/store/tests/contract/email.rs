//! Contract: the mail outbox and mail links.
use lanyard_core::email::{EmailLink, LinkPurpose, OutboxMessage};

use crate::prelude::*;

contract! {
    outbox_hands_each_message_out_once => sqlite_outbox_hands_each_message_out_once, postgres_outbox_hands_each_message_out_once;
    links_are_single_use_and_expire => sqlite_links_are_single_use_and_expire, postgres_links_are_single_use_and_expire;
    verified_addresses_find_one_account => sqlite_verified_addresses_find_one_account, postgres_verified_addresses_find_one_account;
}

fn message(to: &str, at: DateTime<Utc>) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        kind: "notice".into(),
        to: to.into(),
        payload: b"sealed".to_vec(),
        attempts: 0,
        next_attempt_at: at,
        created_at: at,
    }
}

pub(crate) async fn outbox_hands_each_message_out_once(store: Arc<dyn Store>) {
    let now = t0();
    let first = message("a@example.com", now - Duration::seconds(2));
    let later = message("b@example.com", now + Duration::minutes(5));
    store.enqueue_mail(&first).await.unwrap();
    store.enqueue_mail(&later).await.unwrap();
    assert_eq!(store.mail_queued().await.unwrap(), 2);

    let lease = now + Duration::minutes(1);
    let claimed = store.claim_mail(now, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.payload, b"sealed");
    // Leased: not handed out again, and the later one is not due.
    assert_eq!(store.claim_mail(now, lease).await.unwrap(), None);

    // A retry comes back when due, counting its attempts.
    store
        .mail_retry(first.id, now + Duration::seconds(30), "connection refused")
        .await
        .unwrap();
    let again = now + Duration::seconds(31);
    let claimed = store.claim_mail(again, lease).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (first.id, 2));
    store.mail_sent(first.id, again).await.unwrap();
    assert_eq!(store.mail_queued().await.unwrap(), 1);

    let due = now + Duration::minutes(6);
    let claimed = store
        .claim_mail(due, due + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, later.id);
    store
        .mail_failed(later.id, due, "550 no such user")
        .await
        .unwrap();
    assert_eq!(store.mail_queued().await.unwrap(), 0);
    assert_eq!(
        store
            .claim_mail(due + Duration::days(1), due)
            .await
            .unwrap(),
        None,
        "sent and failed messages are never handed out again"
    );
}

fn link(user_id: Option<Uuid>, purpose: LinkPurpose, hash: &[u8], now: DateTime<Utc>) -> EmailLink {
    EmailLink {
        token_hash: hash.to_vec(),
        purpose,
        user_id,
        email: "Ada@Example.com".into(),
        data: None,
        created_at: now,
        expires_at: now + Duration::minutes(30),
    }
}

pub(crate) async fn links_are_single_use_and_expire(store: Arc<dyn Store>) {
    let ada = new_user(&store, "ada").await;
    let now = t0();
    let reset = link(Some(ada.id), LinkPurpose::Reset, b"h-reset", now);
    store.create_link(&reset).await.unwrap();

    // The purpose is part of the key: a reset link is no verification link.
    assert_eq!(
        store
            .find_link(b"h-reset", LinkPurpose::Verify, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_link(b"h-reset", LinkPurpose::Reset, now)
            .await
            .unwrap(),
        Some(reset.clone())
    );
    let used = store
        .redeem_link(b"h-reset", LinkPurpose::Reset, now)
        .await
        .unwrap();
    assert_eq!(used, Some(reset));
    assert_eq!(
        store
            .redeem_link(b"h-reset", LinkPurpose::Reset, now)
            .await
            .unwrap(),
        None,
        "single use"
    );

    let late = link(Some(ada.id), LinkPurpose::Reset, b"h-late", now);
    store.create_link(&late).await.unwrap();
    let after = now + Duration::minutes(31);
    assert_eq!(
        store
            .find_link(b"h-late", LinkPurpose::Reset, after)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .redeem_link(b"h-late", LinkPurpose::Reset, after)
            .await
            .unwrap(),
        None
    );

    // Revoking ends the user's open links of that purpose only.
    let a = link(Some(ada.id), LinkPurpose::Verify, b"h-a", now);
    let b = link(Some(ada.id), LinkPurpose::Invite, b"h-b", now);
    store.create_link(&a).await.unwrap();
    store.create_link(&b).await.unwrap();
    assert_eq!(
        store
            .revoke_links(ada.id, LinkPurpose::Verify, now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .find_link(b"h-a", LinkPurpose::Verify, now)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .find_link(b"h-b", LinkPurpose::Invite, now)
            .await
            .unwrap()
            .is_some()
    );

    // Counted per address, case-insensitively, since a time.
    assert_eq!(
        store
            .count_links_to(
                "ada@example.com",
                LinkPurpose::Reset,
                now - Duration::hours(1)
            )
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_links_to(
                "ada@example.com",
                LinkPurpose::Reset,
                now + Duration::seconds(1)
            )
            .await
            .unwrap(),
        0
    );
    // A sign-up link has no account yet; deleting the user removes theirs.
    let signup = link(None, LinkPurpose::Signup, b"h-s", now);
    store.create_link(&signup).await.unwrap();
    store.delete_user(ada.id).await.unwrap();
    assert_eq!(
        store
            .find_link(b"h-b", LinkPurpose::Invite, now)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .find_link(b"h-s", LinkPurpose::Signup, now)
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn verified_addresses_find_one_account(store: Arc<dyn Store>) {
    let ada = new_user(&store, "ada").await;
    let bob = new_user(&store, "bob").await;
    assert_eq!(
        store
            .user_by_verified_email("ada@example.com")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .confirm_email(ada.id, "Ada@Example.com", t0())
            .await
            .unwrap()
    );
    let found = store
        .user_by_verified_email("ada@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, ada.id);
    assert_eq!(found.email.as_deref(), Some("Ada@Example.com"));
    assert!(found.email_verified);
    // Shared by two accounts: neither is picked.
    store
        .confirm_email(bob.id, "ada@example.com", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_verified_email("ada@example.com")
            .await
            .unwrap(),
        None
    );
}
