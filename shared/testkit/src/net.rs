//! Loopback helpers.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it again at once).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`, up to `timeout`.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> std::io::Result<()> {
    let start = Instant::now();
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The repository's root folder (where `Cargo.lock` is).
pub fn repo_root() -> std::path::PathBuf {
    let mut p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !p.join("Cargo.lock").exists() {
        if !p.pop() {
            return std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        }
    }
    p
}
