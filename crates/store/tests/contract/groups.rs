//! Contract: groups.
use crate::prelude::*;

contract! {
    groups_membership => sqlite_groups_membership, postgres_groups_membership;
}

pub(crate) async fn groups_membership(store: Arc<dyn Store>) {
    // Created out of name order: members are listed by username.
    let carol = new_user(&store, "carol").await;
    let bob = new_user(&store, "bob").await;
    let alice = new_user(&store, "alice").await;
    assert_eq!(store.list_groups().await.unwrap(), vec![]);
    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        Vec::<String>::new()
    );

    assert!(store.add_to_group(bob.id, "admins").await.unwrap());
    assert!(store.add_to_group(alice.id, "admins").await.unwrap());
    assert!(
        !store.add_to_group(alice.id, "admins").await.unwrap(),
        "already a member"
    );
    assert!(store.add_to_group(alice.id, "devs").await.unwrap());
    // Names are case-sensitive, and sorted by bytes (uppercase first) on every backend.
    assert!(store.add_to_group(alice.id, "Ops").await.unwrap());
    assert!(store.add_to_group(carol.id, "ops").await.unwrap());

    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        strings(&["Ops", "admins", "devs"])
    );
    assert_eq!(
        store.user_groups(carol.id).await.unwrap(),
        strings(&["ops"])
    );
    assert_eq!(
        store.user_groups(Uuid::new_v4()).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![
            ("Ops".to_string(), 1),
            ("admins".to_string(), 2),
            ("devs".to_string(), 1),
            ("ops".to_string(), 1),
        ]
    );
    assert_eq!(
        store.group_members("admins").await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );
    assert_eq!(
        store.group_members("ops").await.unwrap(),
        vec![carol.clone()]
    );
    assert_eq!(store.group_members("nobody").await.unwrap(), vec![]);

    // Unknown user: refused by the foreign key.
    assert!(matches!(
        store.add_to_group(Uuid::new_v4(), "admins").await,
        Err(StoreError::Conflict(_))
    ));

    assert!(store.remove_from_group(alice.id, "devs").await.unwrap());
    assert!(!store.remove_from_group(alice.id, "devs").await.unwrap());
    assert!(!store.remove_from_group(carol.id, "admins").await.unwrap());
    assert!(!store.remove_from_group(alice.id, "OPS").await.unwrap());
    // A group exists while it has members.
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![
            ("Ops".to_string(), 1),
            ("admins".to_string(), 2),
            ("ops".to_string(), 1),
        ]
    );

    // Deleting a user removes their memberships.
    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(
        store.list_groups().await.unwrap(),
        vec![("admins".to_string(), 1), ("ops".to_string(), 1)]
    );
    assert_eq!(store.group_members("admins").await.unwrap(), vec![bob]);
    assert_eq!(
        store.user_groups(alice.id).await.unwrap(),
        Vec::<String>::new()
    );
}
