//! Federated login in tests: the real identity provider `scripts/oidc.sh`
//! runs (tests/oidc/provider.mjs: anyone signs in as any email through a
//! one-field form), and a browser: an HTTP client that keeps cookies per
//! host and path and follows redirects, so a test drives the whole login
//! (control plane → provider → callback → session cookie) as a person's
//! browser would, and can stop anywhere to tamper.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{env, Resp};

/// The control plane's client at the provider.
pub const CLIENT_ID: &str = "control-plane";
/// Its secret.
pub const CLIENT_SECRET: &str = "control-plane-secret";
/// A first-party app (ES256 ID tokens) whose tokens `/auth/oidc-token`
/// accepts (`oidc_extra_audiences`).
pub const CLI_CLIENT_ID: &str = "cp-cli";
/// Someone else's app: its ID tokens carry the wrong audience.
pub const OTHER_CLIENT_ID: &str = "other-app";
/// Least seconds between device-code polls in tests.
pub const DEVICE_POLL_INTERVAL_SECS: u64 = 1;

/// The provider's issuer: `CP_OIDC_ISSUER` (set by `scripts/test.sh`), else
/// `scripts/oidc.sh`'s usual address.
pub fn issuer() -> String {
    std::env::var("CP_OIDC_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:55090".into())
}

/// `scheme://authority` and the path (with query) of an absolute URL.
pub fn split_url(url: &str) -> (String, String) {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => (url[..start + i].to_owned(), url[start + i..].to_owned()),
        None => (url.to_owned(), "/".to_owned()),
    }
}

/// A query parameter of a URL, percent-decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    cp_http::request::form_pairs(query.as_bytes())
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// `url` with query parameter `name` set to `value` (replaced or added).
pub fn with_query_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some(name))
        .map(str::to_owned)
        .collect();
    pairs.push(format!(
        "{name}={}",
        cp_http::request::percent_encode(value)
    ));
    format!("{base}?{}", pairs.join("&"))
}

/// The control plane's URL of a path.
pub fn cp_url(path: &str) -> String {
    format!("{}{path}", env().url)
}

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A browser: cookies per `scheme://authority`, honouring `Path` and
/// `Max-Age=0`; redirects followed on request.
#[derive(Default)]
pub struct Browser {
    jar: Mutex<HashMap<String, Vec<Cookie>>>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a cookie held for `origin` (`scheme://authority`).
    pub fn cookie(&self, origin: &str, name: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        jar.get(origin)?
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.clone())
    }

    /// Sets a cookie for `origin` (path `/`), as a tampering user could.
    pub fn set_cookie(&self, origin: &str, name: &str, value: &str) {
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(origin.to_owned()).or_default();
        cookies.retain(|c| c.name != name);
        cookies.push(Cookie {
            name: name.into(),
            value: value.into(),
            path: "/".into(),
        });
    }

    fn store(&self, origin: &str, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let mut path = "/".to_owned();
        let mut delete = false;
        for attr in parts {
            let (k, v) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
            match k.to_ascii_lowercase().as_str() {
                "path" => path = v.to_owned(),
                "max-age" => delete = v.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                "expires" => delete |= v.contains("1970"),
                _ => {}
            }
        }
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(origin.to_owned()).or_default();
        cookies.retain(|c| !(c.name == name && c.path == path));
        if !delete {
            cookies.push(Cookie {
                name: name.into(),
                value: value.into(),
                path,
            });
        }
    }

    fn cookie_header(&self, origin: &str, path: &str) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        let pairs: Vec<String> = jar
            .get(origin)?
            .iter()
            .filter(|c| path.starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// One request (no redirect followed), with this browser's cookies and
    /// `headers`; stores the cookies it sets.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(Vec<u8>, &str)>,
    ) -> Resp {
        let (origin, path) = split_url(url);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut builder = hyper::Request::builder().method(method).uri(url);
        if let Some(cookies) = self.cookie_header(&origin, &path) {
            builder = builder.header("cookie", cookies);
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let bytes = match body {
            Some((bytes, content_type)) => {
                builder = builder.header("content-type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let resp = client
            .request(builder.body(Full::new(Bytes::from(bytes))).unwrap())
            .await
            .unwrap();
        let resp = Resp::read(resp).await;
        for (k, v) in &resp.headers {
            if k == "set-cookie" {
                self.store(&origin, v);
            }
        }
        resp
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Resp {
        self.request("GET", url, &[], None).await
    }

    /// `POST url` with a form body.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", cp_http::request::percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            "POST",
            url,
            &[],
            Some((body.into_bytes(), "application/x-www-form-urlencoded")),
        )
        .await
    }

    /// Follows redirects from `resp` (the answer to `url`) until an answer
    /// that is not one, or until the next URL satisfies `stop` (then that
    /// URL is returned unrequested). Returns the last answer and its URL.
    pub async fn follow(
        &self,
        mut url: String,
        mut resp: Resp,
        stop: impl Fn(&str) -> bool,
    ) -> (Resp, String) {
        for _ in 0..20 {
            if !(300..400).contains(&resp.status) {
                return (resp, url);
            }
            let location = resp.header("location").expect("redirect without Location");
            let next = if location.contains("://") {
                location.to_owned()
            } else {
                format!("{}{location}", split_url(&url).0)
            };
            if stop(&next) {
                return (resp, next);
            }
            resp = self.get(&next).await;
            url = next;
        }
        panic!("too many redirects, last at {url}");
    }
}

/// The `action` of the first form of an HTML page.
pub fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form with an action") + 8;
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].replace("&amp;", "&")
}

/// The value of the hidden input `name` of an HTML page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// At the provider: follows `authorize_url`, signs in as `email` on the
/// provider's page, and follows the provider's redirects until it sends the
/// browser to `redirect_prefix`; returns that URL unrequested (the code and
/// state are in it).
pub async fn authorize(browser: &Browser, authorize_url: &str, email: &str) -> String {
    let resp = browser.get(authorize_url).await;
    let (page, page_url) = browser
        .follow(authorize_url.to_owned(), resp, |_| false)
        .await;
    assert_eq!(
        page.status,
        200,
        "the provider's sign-in page: {}",
        String::from_utf8_lossy(&page.body)
    );
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let action = format!("{}{}", split_url(&page_url).0, form_action(&html));
    let resp = browser.post_form(&action, &[("email", email)]).await;
    let provider = issuer();
    let (last, next) = browser
        .follow(action, resp, |u| !u.starts_with(&provider))
        .await;
    assert!(
        !next.starts_with(&provider),
        "the provider did not redirect back: {} {}",
        last.status,
        String::from_utf8_lossy(&last.body)
    );
    next
}

/// `GET /auth/login` (with `returnTo`), asserting the redirect to the
/// provider: the authorization request URL.
pub async fn start_login(browser: &Browser, return_to: Option<&str>) -> String {
    let path = match return_to {
        Some(r) => format!(
            "/api/v1/auth/login?returnTo={}",
            cp_http::request::percent_encode(r)
        ),
        None => "/api/v1/auth/login".to_owned(),
    };
    let resp = browser.get(&cp_url(&path)).await;
    assert_eq!(
        resp.status,
        302,
        "login: {}",
        String::from_utf8_lossy(&resp.body)
    );
    let location = resp.header("location").unwrap().to_owned();
    assert!(location.starts_with(&issuer()), "{location}");
    location
}

/// The whole browser login as `email`: login → provider → callback. Returns
/// the callback's answer (a 303 to `returnTo` with the session cookie).
pub async fn log_in(browser: &Browser, email: &str) -> Resp {
    let authorize_url = start_login(browser, None).await;
    let callback = authorize(browser, &authorize_url, email).await;
    browser.get(&callback).await
}

/// A browser signed in as `email`.
pub async fn signed_in(email: &str) -> Browser {
    let browser = Browser::new();
    let resp = log_in(&browser, email).await;
    assert_eq!(
        resp.status,
        303,
        "callback: {}",
        String::from_utf8_lossy(&resp.body)
    );
    browser
}

/// A random PKCE verifier (RFC 7636: 43-128 characters).
fn verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// An ID token straight from the provider for `client_id` (whose secret is
/// `<client_id>-secret`), as that client would get one: code flow with
/// PKCE, signed in as `email`.
pub async fn provider_id_token(client_id: &str, email: &str, nonce: Option<&str>) -> String {
    // Any loopback port of a registered redirect URI (the clients are native).
    let redirect_uri = if client_id == CLIENT_ID {
        "http://127.0.0.1:9/api/v1/auth/callback"
    } else {
        "http://127.0.0.1:9/callback"
    };
    let verifier = verifier();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let mut url = format!(
        "{}/auth?response_type=code&client_id={client_id}&redirect_uri={}\
         &scope=openid%20email%20profile&state=s&code_challenge={challenge}\
         &code_challenge_method=S256",
        issuer(),
        cp_http::request::percent_encode(redirect_uri),
    );
    if let Some(n) = nonce {
        url = with_query_param(&url, "nonce", n);
    }
    let browser = Browser::new();
    let back = authorize(&browser, &url, email).await;
    let code = query_param(&back, "code").expect("a code");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_id}-secret"));
    let body = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
        cp_http::request::percent_encode(&code),
        cp_http::request::percent_encode(redirect_uri),
    );
    let authorization = format!("Basic {basic}");
    let resp = browser
        .request(
            "POST",
            &format!("{}/token", issuer()),
            &[("authorization", authorization.as_str())],
            Some((body.into_bytes(), "application/x-www-form-urlencoded")),
        )
        .await;
    let answer: Value = resp.json();
    assert_eq!(resp.status, 200, "token endpoint: {answer}");
    answer["id_token"].as_str().unwrap().to_owned()
}
