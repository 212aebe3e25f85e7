//! A loopback HTTP server whose every answer is what the current input says: venue and oracle
//! clients are fuzzed through their real HTTP paths (envelope, status handling, decoding).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Computes an answer (status, content type, body) from the request's path and body.
pub type Answer = Box<dyn Fn(&str, &[u8]) -> (u16, &'static str, Vec<u8>) + Send + Sync>;

/// The server; [`Replies::set`] changes what it answers.
#[derive(Clone)]
pub struct Replies {
    pub url: String,
    answer: Arc<Mutex<Answer>>,
}

impl Replies {
    /// Starts on a free loopback port (call inside a Tokio runtime).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let answer: Arc<Mutex<Answer>> = Arc::new(Mutex::new(Box::new(|_, _| (200, "application/json", b"{}".to_vec()))));
        let shared = answer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let answer = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let answer = answer.clone();
                        async move {
                            let path = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let (status, content_type, out) = match answer.lock() {
                                Ok(f) => f(&path, &body),
                                Err(_) => (500, "text/plain", b"poisoned".to_vec()),
                            };
                            let mut resp = Response::new(Full::new(Bytes::from(out)));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                            resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Ok(Self { url, answer })
    }

    pub fn set(&self, answer: Answer) {
        if let Ok(mut g) = self.answer.lock() {
            *g = answer;
        }
    }
}
