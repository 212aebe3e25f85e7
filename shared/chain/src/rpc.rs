//! The one way to build a JSON-RPC provider: HTTP, no fillers (callers fill and sign
//! themselves), behind alloy's [`RetryBackoffLayer`], over a transport that makes its HTTP
//! client on the first request.
//!
//! **Retries.** The layer retries what a node or its gateway says was not served — HTTP 429 and
//! 503, and the rate-limit error codes of the common providers (429, -32005, …) — after the
//! server's `Retry-After` or [`RETRY_BACKOFF`], at most [`MAX_RETRIES`] times. Nothing else is
//! retried (a connection reset, a 502/504 or a JSON-RPC error other than rate limiting passes
//! through), so every caller keeps its own timeout and classification. A retried request the
//! server did not serve is safe to repeat, and so is a raw transaction: the same signed bytes (one
//! hash, one nonce) cannot execute twice.
//!
//! **Lazy client.** alloy's `connect_http` builds a new HTTP client per provider, and each client
//! loads and parses the platform's root certificates at once. A Lambda cold start builds several
//! providers (Chainlink feeds, the sequencer feed, EIP-1271 wallet checks) and most invocations
//! never call one. A provider here costs nothing until its first request; the first request of
//! any of them builds the one client of the process, which every provider then shares (one
//! connection pool, one certificate load).

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::transports::http::{Http, reqwest};
use alloy::transports::layers::RetryBackoffLayer;
use tower::Service;
use vanta_domain::error::{DomainError, DomainResult};

/// Retries after the first attempt.
pub const MAX_RETRIES: u32 = 3;

/// The wait before each retry when the server gives no `Retry-After`.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(250);

/// The layer's compute-unit budget (alloy's heuristic, 20 units a request): high enough that only
/// a burst of hundreds of queued requests adds a wait of its own.
const COMPUTE_UNITS_PER_SECOND: u64 = 10_000;

/// alloy's retry layer with this crate's bounds.
pub fn retry_layer() -> RetryBackoffLayer {
    RetryBackoffLayer::new(MAX_RETRIES, u64::try_from(RETRY_BACKOFF.as_millis()).unwrap_or(u64::MAX), COMPUTE_UNITS_PER_SECOND)
}

/// A provider for `url` with the retry layer. `Invalid` for text that is not a URL; the error
/// never repeats the URL (it may carry an API key).
pub fn provider(url: &str) -> DomainResult<DynProvider> {
    let url: url::Url = url.parse().map_err(|e| DomainError::Invalid(format!("the RPC URL is not a URL: {e}")))?;
    Ok(provider_for(url))
}

/// [`provider`] for a parsed URL.
pub fn provider_for(url: url::Url) -> DynProvider {
    let local = alloy::transports::utils::guess_local_url(url.as_str());
    let client = RpcClient::builder().layer(retry_layer()).transport(LazyHttp::new(url), local);
    ProviderBuilder::new().disable_recommended_fillers().connect_client(client).erased()
}

/// The process's one JSON-RPC HTTP client, built on the first request.
fn shared_client() -> reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

/// An HTTP transport whose client is made on its first request.
#[derive(Clone, Debug)]
pub struct LazyHttp {
    url: url::Url,
    http: Arc<OnceLock<Http<reqwest::Client>>>,
}

impl LazyHttp {
    pub fn new(url: url::Url) -> Self {
        Self { url, http: Arc::new(OnceLock::new()) }
    }

    /// Whether the client has been made (a request was sent).
    pub fn is_built(&self) -> bool {
        self.http.get().is_some()
    }
}

/// Whatever alloy's reqwest transport serves (its JSON-RPC request packets), served the same.
impl<R> Service<R> for LazyHttp
where
    Http<reqwest::Client>: Service<R>,
{
    type Response = <Http<reqwest::Client> as Service<R>>::Response;
    type Error = <Http<reqwest::Client> as Service<R>>::Error;
    type Future = <Http<reqwest::Client> as Service<R>>::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // reqwest is always ready (alloy's own transport says the same).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let mut http = self.http.get_or_init(|| Http::with_client(shared_client(), self.url.clone())).clone();
        http.call(req)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A JSON-RPC node on loopback that answers `429 Too Many Requests` to the first
    /// `rate_limited` requests and `eth_chainId = 8453` after that. Counts the requests.
    async fn node(rate_limited: usize) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v2/KEY", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // One request per connection: the headers, then Content-Length bytes of body.
                let body = loop {
                    let Ok(read) = sock.read(&mut chunk).await else { break None };
                    if read == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break Some(buf[end + 4..end + 4 + len].to_vec());
                        }
                    }
                };
                let Some(body) = body else { continue };
                let (status, payload) = if n < rate_limited {
                    ("429 Too Many Requests", "rate limited".to_owned())
                } else {
                    let req: Value = serde_json::from_slice(&body).unwrap();
                    ("200 OK", json!({"jsonrpc": "2.0", "id": req["id"], "result": "0x2105"}).to_string())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{payload}",
                    payload.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn rate_limited_requests_are_retried_with_backoff() {
        let (url, count) = node(2).await;
        let p = provider(&url).unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(p.get_chain_id().await.unwrap(), 8453);
        assert_eq!(count.load(Ordering::SeqCst), 3, "two 429s, then the answer");
        assert!(started.elapsed() >= RETRY_BACKOFF * 2, "backed off before each retry");
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let (url, count) = node(usize::MAX).await;
        let p = provider(&url).unwrap();
        let err = p.get_chain_id().await.unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 1 + MAX_RETRIES as usize, "{err}");
        assert!(err.to_string().contains("429"), "{err}");
        assert!(!crate::redact::redact_urls(&err.to_string()).contains("KEY"));
    }

    #[test]
    fn a_bad_url_is_invalid_and_not_repeated() {
        let err = provider("not a url/KEY").unwrap_err();
        assert!(matches!(&err, DomainError::Invalid(m) if !m.contains("KEY")), "{err:?}");
    }

    #[tokio::test]
    async fn the_client_is_made_on_the_first_request_only() {
        let transport = LazyHttp::new("http://127.0.0.1:9/".parse().unwrap());
        let provider =
            ProviderBuilder::new().disable_recommended_fillers().connect_client(RpcClient::new(transport.clone(), true)).erased();
        assert!(!transport.is_built(), "building the provider makes no client");
        // Nothing listens on port 9: the request fails, after making the client.
        assert!(provider.get_chain_id().await.is_err());
        assert!(transport.is_built());
    }
}
