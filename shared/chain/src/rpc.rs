//! JSON-RPC providers over HTTP that build their client on first use, and share it.
//!
//! alloy's `connect_http` builds a new HTTP client per provider, and each client loads and parses
//! the platform's root certificates at once (rustls-platform-verifier). A Lambda cold start
//! builds several providers (Chainlink feeds, the sequencer feed, EIP-1271 wallet checks) and
//! most invocations never call one. A [`lazy_provider`] costs nothing until its first request;
//! the first request of any of them builds the one client of the process, which every provider
//! then shares (one connection pool, one certificate load).

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::transports::http::{Http, reqwest};
use tower::Service;

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

/// A provider without fillers over [`LazyHttp`] (the callers read: no nonce, gas or chain id
/// to fill).
pub fn lazy_provider(url: url::Url) -> DynProvider {
    let local = alloy::transports::utils::guess_local_url(url.as_str());
    ProviderBuilder::new().disable_recommended_fillers().connect_client(RpcClient::new(LazyHttp::new(url), local)).erased()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

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
