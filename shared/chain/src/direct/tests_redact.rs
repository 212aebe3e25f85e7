#![allow(clippy::unwrap_used, clippy::expect_used)]
//! RPC failures of the direct route never show the RPC URL's key.

use alloy::providers::{Provider, ProviderBuilder};

use super::sender::rpc_error;

#[tokio::test]
async fn an_rpc_error_with_a_keyed_url_shows_no_key() {
    // A port nobody listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v2/SECRETKEY123");
    let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
    let raw = provider.get_block_number().await.unwrap_err();
    assert!(raw.to_string().contains("SECRETKEY123"), "the transport error embeds the URL, which is what is redacted: {raw}");
    let shown = rpc_error("eth_blockNumber", &raw).to_string();
    assert!(!shown.contains("SECRETKEY123") && !shown.contains("/v2/"), "{shown}");
    assert!(shown.contains(&format!("http://127.0.0.1:{port}")), "the host stays, so an operator knows which node failed: {shown}");
}
