//! Calling the router without a socket, for tests, the fuzzer and the bench: a request builder
//! and a response with its status, headers and body.
//!
//! ```ignore
//! let r = testing::call(&deps, TestRequest::new("GET", "/healthz")).await;
//! assert_eq!((r.status, r.body_json()["status"].as_str()), (200, Some("ok")));
//! ```

use std::net::IpAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use tower::ServiceExt;

use super::SourceIp;
use crate::Deps;

/// A request as a test writes it (cheap to clone, unlike `http::Request`).
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub method: String,
    /// The path, with a query if any.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub source_ip: Option<IpAddr>,
}

impl TestRequest {
    pub fn new(method: &str, path: &str) -> Self {
        Self { method: method.to_ascii_uppercase(), path: path.to_owned(), ..Self::default() }
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.source_ip = Some(ip);
        self
    }

    /// The `http::Request` the router takes; `None` when the method, path or a header is not
    /// valid HTTP (a client could not have sent it).
    pub fn into_request(self) -> Option<Request> {
        let mut req = Request::new(Body::from(self.body));
        *req.method_mut() = Method::from_bytes(self.method.as_bytes()).ok()?;
        *req.uri_mut() = self.path.parse::<Uri>().or_else(|_| encoded(&self.path).parse::<Uri>()).ok()?;
        for (k, v) in &self.headers {
            req.headers_mut().append(HeaderName::try_from(k.as_str()).ok()?, HeaderValue::try_from(v.as_str()).ok()?);
        }
        if let Some(ip) = self.source_ip {
            req.extensions_mut().insert(SourceIp(ip));
        }
        Some(req)
    }
}

/// `path` with what may not stand in a URI percent-encoded, as a client sends it
/// (`/link/<script>` goes as `/link/%3Cscript%3E`).
fn encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the router answered.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The first value of a header, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header_str(&self.headers, name)
    }
}

/// Sends `req` through every route ([`super::router`]) over `deps`.
pub async fn call(deps: &Deps, req: TestRequest) -> TestResponse {
    send(&super::router(deps.clone()), req).await
}

/// Sends `req` through `router` (build it once to send many).
pub async fn send(router: &Router, req: TestRequest) -> TestResponse {
    let Some(req) = req.into_request() else {
        return TestResponse { status: 400, headers: HeaderMap::new(), body: Bytes::from_static(b"{\"error\":\"not valid HTTP\"}") };
    };
    let resp = match router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    TestResponse { status: parts.status.as_u16(), headers: parts.headers, body: super::read_body(body).await }
}
