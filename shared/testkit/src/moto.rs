//! Starts moto (DynamoDB, SQS, EventBridge emulation) on a free loopback port and stops it when
//! dropped.
//!
//! moto runs through `tests/support/moto_serial.py`, which executes one request at a time: moto's
//! threaded server is not atomic under concurrent DynamoDB writes (real DynamoDB is), and tests
//! that race writers must see DynamoDB's behaviour, not moto's.
//!
//! The Python comes from the venv of `VANTA_MOTO_SERVER` (its `moto_server`), else `.venv/` in
//! the repository (installed by `make tools`). Missing, it is an error that says how to install
//! it: tests that need moto never pass silently without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::net::{free_port, repo_root};
use crate::probe;

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// The venv's Python that has moto installed.
    fn python() -> Result<PathBuf, String> {
        let moto_server =
            std::env::var("VANTA_MOTO_SERVER").map(PathBuf::from).unwrap_or_else(|_| repo_root().join(".venv/bin/moto_server"));
        let python = moto_server.with_file_name("python");
        if moto_server.exists() && python.exists() {
            return Ok(python);
        }
        Err(format!("moto not found at {}: run `make tools` (or `make test`), or set VANTA_MOTO_SERVER", moto_server.display()))
    }

    /// Starts moto and waits until it answers as moto (`GET /moto-api/data.json` is 200) while still
    /// running; on a port taken in between by another process, starts again on a fresh port
    /// (three attempts).
    pub async fn start() -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::start_once().await {
                Ok(moto) => return Ok(moto),
                Err(e) => last = e,
            }
        }
        Err(format!("moto did not start: {last}"))
    }

    async fn start_once() -> Result<Self, String> {
        let bin = Self::python()?;
        let launcher = repo_root().join("tests/support/moto_serial.py");
        let port = free_port().map_err(|e| e.to_string())?;
        let mut child = Command::new(&bin)
            .arg(&launcher)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("moto exited on port {port} ({status})"));
            }
            let answer = probe::exchange(addr, "GET", "/moto-api/data.json", "").await;
            let ours = answer.is_some_and(|reply| reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"));
            if ours && child.try_wait().ok().flatten().is_none() {
                return Ok(Self { child, endpoint: format!("http://{addr}") });
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                return Err(format!("no answer on port {port} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
