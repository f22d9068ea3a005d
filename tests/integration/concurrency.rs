//! Correctness under concurrency: logins that arrive together are queued, never refused for
//! being many, while guesses stay limited exactly (DESIGN §3, issue 10).
use crate::harness::{PASSWORD, TestApp};

/// Log `username` in from `n` browsers at once; the responses' Location headers.
async fn logins_at_once(app: &TestApp, users: &[String], password: &str) -> Vec<Option<String>> {
    let mut tasks = Vec::new();
    for user in users {
        let mut b = app.browser();
        let page = b.get("/login").await;
        let (user, password) = (user.clone(), password.to_string());
        tasks.push(tokio::spawn(async move {
            let res = b.submit_login(&page, &user, &password).await;
            (res.status, res.location())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        let (status, location) = t.await.unwrap();
        assert_ne!(status, 429, "a correct login was refused as throttled");
        out.push(location);
    }
    out
}

#[tokio::test]
async fn concurrent_correct_logins_of_one_account_all_succeed() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let users = vec!["ada".to_string(); 32];
    let done = logins_at_once(&app, &users, PASSWORD).await;
    let ok = done
        .iter()
        .filter(|l| l.as_deref() == Some("/account"))
        .count();
    assert_eq!(ok, 32, "{done:?}");
}

#[tokio::test]
async fn concurrent_logins_of_many_accounts_all_succeed() {
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for i in 0..32 {
        let name = format!("user{i}");
        app.user(&name).await;
        users.push(name);
    }
    let done = logins_at_once(&app, &users, PASSWORD).await;
    assert!(
        done.iter().all(|l| l.as_deref() == Some("/account")),
        "{done:?}"
    );
}

#[tokio::test]
async fn guesses_stay_limited_while_other_accounts_sign_in() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    app.user("bob").await;
    // From one address, at once: twelve wrong guesses at Ada's account and twelve correct
    // logins of Bob. Ada's budget of five holds; none of Bob's logins is refused.
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut b = app.browser();
        let page = b.get("/login").await;
        let (user, password) = match i % 2 {
            0 => ("ada", "wrong guess"),
            _ => ("bob", PASSWORD),
        };
        tasks.push(tokio::spawn(async move {
            (user, b.submit_login(&page, user, password).await.status)
        }));
    }
    let mut judged_wrong = 0;
    for t in tasks {
        match t.await.unwrap() {
            ("ada", 401) => judged_wrong += 1,
            ("ada", 429) | ("bob", 303) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        (1..=5).contains(&judged_wrong),
        "{judged_wrong} wrong guesses were judged; the limit is 5"
    );
}
