//! HTTP building blocks shared by the routes (`api`, `telegram`, `wallet`) and the router that
//! assembles them ([`crate::http`]): replies that always say why, the per-route body cap, the
//! caller's IP. Depends on no route, so every route can use it and the router can use every
//! route.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::Deps;

/// Largest body any route accepts (signals are tiny; Telegram updates are a few KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The routes' state: the handlers' dependencies, one `Arc` clone per request.
pub(crate) type Shared = Arc<Deps>;

/// Middleware that reads the body (at most `max` bytes, the state) before the route runs;
/// larger is `413 {"error": "body larger than {max} bytes"}`, and the route never sees it. As a
/// layer: `middleware::from_fn_with_state(max, http::limit_body)`.
pub async fn limit_body(State(max): State<usize>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => error(413, format!("body larger than {max} bytes")),
    }
}

/// The whole body of a request whose route has a [`limit_body`] layer (so it is already in memory).
pub(crate) async fn read_body(body: Body) -> Bytes {
    axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default()
}

/// A header's value, when it is text.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The caller's IP as API Gateway or the socket saw it (rate limiting, logs). Set by the
/// Lambda adapter; under `axum::serve` the socket's address ([`ConnectInfo`]) stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub IpAddr);

impl SourceIp {
    /// The caller of the request these extensions belong to, where known.
    pub fn of(extensions: &Extensions) -> Option<IpAddr> {
        extensions.get::<SourceIp>().map(|s| s.0).or_else(|| extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `status` with a body of `content_type`.
pub fn with_body(code: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status(code);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON reply.
pub fn json<T: Serialize>(code: u16, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    with_body(code, "application/json", body)
}

/// A text reply of `content_type`.
pub fn text(code: u16, text: impl Into<String>, content_type: &'static str) -> Response {
    with_body(code, content_type, text.into())
}

/// `{"error": reason}` with the status: every refusal says why.
pub fn error(code: u16, reason: impl Into<String>) -> Response {
    json(code, &serde_json::json!({ "error": reason.into() }))
}

/// A reply with these headers (names and values that are not valid HTTP are left out).
pub fn with_headers(code: u16, headers: &[(String, String)], body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status(code);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}
