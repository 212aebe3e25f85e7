//! The one accept loop the fake servers share: bind a free loopback port, serve every HTTP/1.1
//! connection with a handler, stop on drop.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper::Response;
//!
//! let server = vanta_testkit::server::Server::start("fake example", |_req| async {
//!     Response::new(Full::new(Bytes::from_static(b"{}")))
//! })
//! .await?;
//! println!("listening on {}", server.url());
//! # Ok(())
//! # }
//! ```
//!
//! The handler's response body may be any [`hyper::body::Body`], so a streamed body (the fake
//! venue's server-sent events, fed from a channel) is written as it is produced, and a handler
//! may hold a request open (a long poll) for as long as it likes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// A running server on `127.0.0.1`; dropping it stops the accept loop and closes every open
/// connection (each lives in the loop's task set).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves each request with `handler` until dropped. `name` labels
    /// the log line of a failed accept (the loop then retries). Needs a Tokio runtime.
    pub async fn start<H, F, B>(name: &'static str, handler: H) -> std::io::Result<Server>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            // Connections live in the set, so aborting this task closes them too.
            let mut conns = JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, server = name, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let handler = Arc::clone(&handler);
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        let answer = handler(req);
                        async move { Ok::<_, Infallible>(answer.await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Server { addr, task })
    }

    /// The bound address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Frame;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::mpsc;

    use super::*;

    /// A body fed from a channel, ended when the sender is dropped.
    struct Channel(mpsc::Receiver<Bytes>);

    impl Body for Channel {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_each_request_with_the_handler() {
        let server = Server::start("test", |req: Request<Incoming>| async move {
            let path = req.uri().path().to_owned();
            let _ = req.into_body().collect().await;
            Response::new(Full::new(Bytes::from(format!("you asked for {path}"))))
        })
        .await
        .unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        assert!(get(server.addr(), "/a").await.ends_with("you asked for /a"));
        assert!(get(server.addr(), "/b").await.ends_with("you asked for /b"));
    }

    #[tokio::test]
    async fn a_streamed_body_arrives_as_it_is_produced() {
        let (tx, rx) = mpsc::channel::<Bytes>(4);
        let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
        let server = Server::start("test", move |_req| {
            let rx = rx.lock().unwrap().take().unwrap();
            async move { Response::new(Channel(rx)) }
        })
        .await
        .unwrap();
        let mut s = TcpStream::connect(server.addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        tx.send(Bytes::from_static(b"first-event")).await.unwrap();
        // The first frame is on the wire while the second is not produced yet.
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("first-event") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        tx.send(Bytes::from_static(b"second-event")).await.unwrap();
        drop(tx);
        let mut rest = Vec::new();
        while !String::from_utf8_lossy(&rest).contains("\r\n0\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the end of the body");
            rest.extend_from_slice(&buf[..n]);
        }
        assert!(String::from_utf8_lossy(&rest).contains("second-event"));
    }

    #[tokio::test]
    async fn dropping_the_server_closes_its_connections() {
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let held_tx = std::sync::Mutex::new(Some(held_tx));
        let server = Server::start("test", move |_req| {
            if let Some(tx) = held_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            async {
                // Never answers: a long poll.
                std::future::pending::<()>().await;
                Response::new(Full::new(Bytes::new()))
            }
        })
        .await
        .unwrap();
        let addr = server.addr();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        held_rx.await.unwrap();
        drop(server);
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the held connection was not closed");
        assert!(TcpStream::connect(addr).await.is_err(), "the port still accepts");
    }
}
