//! One HTTP/1.1 request by hand, to tell that a service the harness started is the one answering
//! on its port (a port from [`crate::net::free_port`] is released before the service binds it,
//! so an open port alone does not prove that).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `method path` with a JSON `body` to `addr` and returns the whole reply (status line,
/// headers, body), or None when nothing answers within two seconds.
pub async fn exchange(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<String> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let talk = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.ok()?;
        Some(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), talk).await.ok().flatten()
}
