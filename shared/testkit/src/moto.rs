//! Starts `moto_server` (DynamoDB, SQS, EventBridge emulation) on a free loopback port and stops
//! it when dropped.
//!
//! The binary comes from `VANTA_MOTO_SERVER`, else `.venv/bin/moto_server` in the repository
//! (installed by `make tools`). Missing, it is an error that says how to install it: tests that
//! need moto never pass silently without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::net::{free_port, repo_root, wait_for_port};

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    fn binary() -> Result<PathBuf, String> {
        if let Ok(p) = std::env::var("VANTA_MOTO_SERVER") {
            let p = PathBuf::from(p);
            if p.exists() {
                return Ok(p);
            }
        }
        let p = repo_root().join(".venv/bin/moto_server");
        if p.exists() {
            return Ok(p);
        }
        Err("moto_server not found: run `make tools` (or `make test`), or set VANTA_MOTO_SERVER".into())
    }

    /// Starts moto and waits until it answers.
    pub async fn start() -> Result<Self, String> {
        let bin = Self::binary()?;
        let port = free_port().map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        wait_for_port(addr, Duration::from_secs(30)).await.map_err(|e| format!("moto did not start: {e}"))?;
        Ok(Self { child, endpoint: format!("http://{addr}") })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
