//! A plain HTTP request/response pair that the handlers use, so the same handler code runs under
//! API Gateway (via `lambda_http`) and in the local runner (via hyper).

use bytes::Bytes;
use serde::Serialize;

/// Largest body any route accepts (signals are tiny; Telegram updates are a few KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An incoming request. Header names are lower case.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The caller's IP as API Gateway or the socket saw it (rate limiting, logs).
    pub source_ip: Option<String>,
}

impl HttpRequest {
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
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self { status, headers: vec![("content-type".into(), "application/json".into())], body: body.into() }
    }
    pub fn text(status: u16, text: impl Into<String>, content_type: &str) -> Self {
        Self { status, headers: vec![("content-type".into(), content_type.to_owned())], body: Bytes::from(text.into()) }
    }
    /// `{"error": reason}` with the status: every refusal says why.
    pub fn error(status: u16, reason: impl Into<String>) -> Self {
        Self::json(status, &serde_json::json!({ "error": reason.into() }))
    }
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// API Gateway → [`HttpRequest`].
pub fn from_lambda(req: lambda_http::Request) -> HttpRequest {
    use lambda_http::RequestExt;
    let source_ip = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        Some(lambda_http::request::RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
        _ => None,
    };
    let (parts, body) = req.into_parts();
    let headers =
        parts.headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))).collect();
    let body = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
        source_ip,
    }
}

/// [`HttpResponse`] → API Gateway.
pub fn to_lambda(resp: HttpResponse) -> lambda_http::Response<lambda_http::Body> {
    let mut builder = lambda_http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = match String::from_utf8(resp.body.to_vec()) {
        Ok(t) => lambda_http::Body::Text(t),
        Err(e) => lambda_http::Body::Binary(e.into_bytes()),
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = lambda_http::Response::new(lambda_http::Body::Text("{\"error\":\"bad response\"}".into()));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
