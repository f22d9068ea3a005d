//! The scenarios: what a relying party, a resource server and a browser ask of the provider.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use lanyard_core::secret::{b64url, random_token, sha256};
use openidconnect::reqwest::{self, Client, header};
use serde_json::Value;

use crate::load::{Outcome, Report, client, expect, run};
use crate::server::{CLIENT_ID, CLIENT_SECRET, PASSWORD, REDIRECT, Server, USERS};

type Scenario = for<'a> fn(
    &'a Server,
    usize,
    Duration,
) -> Pin<Box<dyn Future<Output = anyhow::Result<Report>> + 'a>>;

pub fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("discovery", |s, c, d| {
            Box::pin(get(s, c, d, "/.well-known/openid-configuration"))
        }),
        ("jwks", |s, c, d| Box::pin(get(s, c, d, "/jwks"))),
        ("client_credentials (ES256 JWT)", |s, c, d| {
            Box::pin(client_credentials(s, c, d))
        }),
        ("userinfo", |s, c, d| Box::pin(userinfo(s, c, d))),
        ("introspection", |s, c, d| Box::pin(introspection(s, c, d))),
        ("code flow, one account per worker", |s, c, d| {
            Box::pin(flows(s, c, d, false))
        }),
        ("code flow, all workers one account", |s, c, d| {
            Box::pin(flows(s, c, d, true))
        }),
    ]
}

async fn get(s: &Server, c: usize, d: Duration, path: &str) -> anyhow::Result<Report> {
    let (http, url) = (client(), s.url(path));
    Ok(run(s, c, d, move |_, _| {
        let req = http.get(&url).send();
        async move {
            match expect(req.await, 200) {
                Ok(res) => body_outcome(res).await,
                Err(o) => o,
            }
        }
    })
    .await)
}

async fn body_outcome(res: reqwest::Response) -> Outcome {
    match res.bytes().await {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

async fn client_credentials(s: &Server, c: usize, d: Duration) -> anyhow::Result<Report> {
    let (http, url) = (client(), s.url("/token"));
    Ok(run(s, c, d, move |_, _| {
        let r = http
            .post(&url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "client_credentials"), ("scope", "profile")])
            .send();
        async move {
            match expect(r.await, 200) {
                Ok(res) => body_outcome(res).await,
                Err(o) => o,
            }
        }
    })
    .await)
}

async fn access_token(s: &Server) -> anyhow::Result<String> {
    let tokens = code_flow(&client(), &s.issuer, "bench-0")
        .await
        .map_err(|o| anyhow::anyhow!("a code flow for the userinfo token failed: {o:?}"))?;
    tokens["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("no access token"))
}

async fn userinfo(s: &Server, c: usize, d: Duration) -> anyhow::Result<Report> {
    let token = access_token(s).await?;
    let (http, url) = (client(), s.url("/userinfo"));
    Ok(run(s, c, d, move |_, _| {
        let r = http.get(&url).bearer_auth(&token).send();
        async move {
            match expect(r.await, 200) {
                Ok(res) => body_outcome(res).await,
                Err(o) => o,
            }
        }
    })
    .await)
}

async fn introspection(s: &Server, c: usize, d: Duration) -> anyhow::Result<Report> {
    let token = access_token(s).await?;
    let (http, url) = (client(), s.url("/introspect"));
    Ok(run(s, c, d, move |_, _| {
        let r = http
            .post(&url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token.as_str())])
            .send();
        async move {
            match expect(r.await, 200) {
                Ok(res) => match json(res).await {
                    Ok(v) if v["active"] == true => Outcome::Ok,
                    Ok(v) => Outcome::Failed(format!("inactive: {v}")),
                    Err(e) => Outcome::Failed(e.to_string()),
                },
                Err(o) => o,
            }
        }
    })
    .await)
}

async fn flows(s: &Server, c: usize, d: Duration, one_account: bool) -> anyhow::Result<Report> {
    let (http, base) = (client(), Arc::new(s.issuer.clone()));
    Ok(run(s, c, d, move |w, n| {
        let (http, base) = (http.clone(), base.clone());
        let user = match one_account {
            true => "bench-1".to_string(),
            false => format!("bench-{}", (w + 1 + n as usize * 7) % USERS),
        };
        async move {
            match code_flow(&http, &base, &user).await {
                Ok(_) => Outcome::Ok,
                Err(o) => o,
            }
        }
    })
    .await)
}

/// With ten times more concurrent logins than the password-hash budget: how the endpoints that
/// hash nothing fare, and whether logins queue (or are told 503) instead of piling up.
pub async fn overload(s: &Server, c: usize, d: Duration) -> anyhow::Result<Vec<(String, Report)>> {
    let logins = flows(s, c * 10, d, false);
    let probes = async {
        let disco = get(s, 4, d, "/.well-known/openid-configuration");
        let jwks = get(s, 4, d, "/jwks");
        let token = client_credentials(s, 4, d);
        tokio::join!(disco, jwks, token)
    };
    let (logins, (disco, jwks, token)) = tokio::join!(logins, probes);
    Ok(vec![
        (format!("overload: {} concurrent logins", c * 10), logins?),
        ("overload: discovery alongside".into(), disco?),
        ("overload: jwks alongside".into(), jwks?),
        ("overload: client_credentials alongside".into(), token?),
    ])
}

/// A browser's code flow with PKCE against a trusted client: /authorize, the sign-in page,
/// the password, back to the client with a code, and the code exchanged at /token. Returns the
/// token response.
pub async fn code_flow(http: &Client, base: &str, username: &str) -> Result<Value, Outcome> {
    let mut jar = Jar::default();
    let verifier = random_token() + &random_token();
    let challenge = b64url(&sha256(verifier.as_bytes()));
    let (state, nonce) = (random_token(), random_token());
    let query = serde_urlencoded_pairs(&[
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let res = expect(
        http.get(format!("{base}/authorize?{query}")).send().await,
        303,
    )?;
    let login = location(&res)?;
    let res = expect(jar.send(http.get(format!("{base}{login}"))).await, 200)?;
    jar.keep(&res);
    let page = res
        .text()
        .await
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    let csrf = input_value(&page, "csrf_token").ok_or_else(|| fail("no csrf_token"))?;
    let flow = input_value(&page, "flow").unwrap_or_default();
    let form = [
        ("username", username),
        ("password", PASSWORD),
        ("csrf_token", csrf.as_str()),
        ("flow", flow.as_str()),
    ];
    let mut res = expect(
        jar.send(http.post(format!("{base}/login")).form(&form))
            .await,
        303,
    )?;
    for _ in 0..5 {
        jar.keep(&res);
        let next = location(&res)?;
        if next.starts_with(REDIRECT) {
            return exchange(http, base, &next, &state, &nonce, &verifier).await;
        }
        res = expect(jar.send(http.get(format!("{base}{next}"))).await, 303)?;
    }
    Err(fail("too many redirects"))
}

async fn exchange(
    http: &Client,
    base: &str,
    redirect: &str,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> Result<Value, Outcome> {
    let q: HashMap<String, String> = url::Url::parse(redirect)
        .map_err(|e| Outcome::Failed(e.to_string()))?
        .query_pairs()
        .into_owned()
        .collect();
    if q.get("state").map(String::as_str) != Some(state) {
        return Err(fail("state not echoed"));
    }
    let code = q.get("code").ok_or_else(|| fail("no code"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    let req = http
        .post(format!("{base}/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&form);
    let res = expect(req.send().await, 200)?;
    let tokens = json(res).await.map_err(Outcome::Failed)?;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| fail("no id_token"))?;
    let payload = id_token.split('.').nth(1).unwrap_or("");
    let claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| fail("unreadable id_token"))?;
    if claims["nonce"] != nonce {
        return Err(fail("nonce not echoed"));
    }
    Ok(tokens)
}

async fn json(res: reqwest::Response) -> Result<Value, String> {
    let bytes = res.bytes().await.map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

fn fail(why: &str) -> Outcome {
    Outcome::Failed(why.to_string())
}

fn location(res: &reqwest::Response) -> Result<String, Outcome> {
    res.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| fail("redirect without Location"))
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The value of the first `<input name="{name}" value="...">`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_end = html[at..].find('>')? + at;
    let tag = &html[at..tag_end];
    let v = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(v.replace("&#x2f;", "/").replace("&amp;", "&"))
}

/// The cookies of one browser.
#[derive(Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(header::SET_COOKIE) {
            let Some((pair, attrs)) = v
                .to_str()
                .ok()
                .map(|s| s.split_once(';').unwrap_or((s, "")))
            else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if attrs.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_string(), value.to_string());
            }
        }
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let cookie: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = match cookie.is_empty() {
            true => req,
            false => req.header(header::COOKIE, cookie.join("; ")),
        };
        req.send().await
    }
}
