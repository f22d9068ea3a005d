//! oidcc-config-certification-test-plan.
use super::*;

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = TestApp::spawn().await;
    let d = discovery(&app).await;
    assert_eq!(d["issuer"], app.issuer.as_str());
    assert!(
        d["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"code".into())
    );
    assert!(
        d["subject_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == "public" || v == "pairwise")
    );
    assert!(
        d["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"openid".into())
    );
    assert!(d["claims_supported"].is_array());
    assert!(!d["grant_types_supported"].as_array().unwrap().is_empty());
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        // https in production; the test issuer is loopback http, which the config allows only there.
        assert!(d[key].as_str().unwrap().starts_with(&app.issuer), "{key}");
    }
    let jwks = app
        .http()
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    let mut kids = std::collections::HashSet::new();
    for k in keys {
        assert!(
            kids.insert(k["kid"].as_str().unwrap().to_string()),
            "distinct kids"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                k.get(private).is_none(),
                "no private or symmetric key material"
            );
        }
    }
    // The independent parser accepts it as a JWK set.
    let _: CoreJsonWebKeySet = serde_json::from_value(jwks).unwrap();
}
