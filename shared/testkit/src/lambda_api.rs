//! A fake AWS Lambda Runtime API: runs a real function binary (its `main.rs`, cold start and
//! all) outside AWS. The binary polls `/2018-06-01/runtime/invocation/next`; [`FakeLambdaApi::invoke`]
//! hands it an event and waits for what it posts back.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Notify, oneshot};

use crate::server::Server;

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(serde_json::Value),
    Error(serde_json::Value),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Bytes)>,
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
    init_error: Option<serde_json::Value>,
    seq: u64,
    /// When the function first asked for an event: its init phase ended.
    first_poll: Option<std::time::Instant>,
}

/// The fake runtime API server; stopped on drop.
pub struct FakeLambdaApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    ready: Arc<Notify>,
    _server: Server,
}

impl FakeLambdaApi {
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let ready = Arc::new(Notify::new());
        let (s, r) = (state.clone(), ready.clone());
        let server = Server::start("fake Lambda runtime API", move |req| handle(req, s.clone(), r.clone())).await?;
        Ok(Self { addr: server.addr(), state, ready, _server: server })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function process.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The error the function reported at cold start, if any.
    pub fn init_error(&self) -> Option<serde_json::Value> {
        self.state.lock().ok().and_then(|s| s.init_error.clone())
    }

    /// When the function first polled for an event (the end of its init phase), if it has.
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.state.lock().ok().and_then(|s| s.first_poll)
    }

    /// Delivers `event` and waits up to `timeout` for the function's answer.
    pub async fn invoke(&self, event: &serde_json::Value, timeout: Duration) -> Result<Outcome, String> {
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.state.lock().map_err(|_| "poisoned")?;
            s.seq += 1;
            let id = format!("req-{}", s.seq);
            s.waiting.insert(id.clone(), tx);
            s.queue.push_back((id, Bytes::from(event.to_string())));
        }
        self.ready.notify_waiters();
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(_)) => Err("invocation dropped".into()),
            Err(_) => Err(match self.init_error() {
                Some(e) => format!("function failed to start: {e}"),
                None => "function did not answer in time".into(),
            }),
        }
    }
}

fn reply(status: StatusCode, body: Bytes, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (hyper::header::HeaderName::try_from(*k), hyper::header::HeaderValue::try_from(v.as_str())) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>, ready: Arc<Notify>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let json = || serde_json::from_slice::<serde_json::Value>(&body).unwrap_or(serde_json::Value::Null);
    let accepted = || reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"), &[]);
    if method == Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        if let Ok(mut s) = state.lock() {
            s.first_poll.get_or_insert_with(std::time::Instant::now);
        }
        loop {
            let notified = ready.notified();
            if let Some((id, event)) = state.lock().ok().and_then(|mut s| s.queue.pop_front()) {
                let deadline =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() + 30_000).unwrap_or_default();
                return reply(
                    StatusCode::OK,
                    event,
                    &[
                        ("lambda-runtime-aws-request-id", id),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:vanta-test".into()),
                        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
                        ("content-type", "application/json".into()),
                    ],
                );
            }
            notified.await;
        }
    }
    if method == Method::POST && path == "/2018-06-01/runtime/init/error" {
        if let Ok(mut s) = state.lock() {
            s.init_error = Some(json());
        }
        return accepted();
    }
    if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        let (id, kind) = rest.rsplit_once('/').unwrap_or((rest, ""));
        let outcome = match kind {
            "response" => Outcome::Response(json()),
            "error" => Outcome::Error(json()),
            _ => return reply(StatusCode::NOT_FOUND, Bytes::new(), &[]),
        };
        if let Some(tx) = state.lock().ok().and_then(|mut s| s.waiting.remove(id)) {
            let _ = tx.send(outcome);
        }
        return accepted();
    }
    reply(StatusCode::NOT_FOUND, Bytes::new(), &[])
}
