//! Starts `anvil` (Foundry's dev node) on a free loopback port and stops it when dropped.
//!
//! The binary comes from `VANTA_ANVIL`, else `node_modules/.bin/anvil` (or the platform package's
//! `node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil`) under the repository root, installed
//! by `make tools`. Missing, it is an error that says how to install it: tests that need anvil
//! never pass silently without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::net::{free_port, repo_root};
use crate::probe;

/// The first of anvil's well-known dev accounts (funded with 10,000 ETH, unlocked). Public
/// knowledge; for tests only.
pub const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The private key of [`DEV_ADDRESS`]. Public knowledge; for tests only.
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// How to start anvil.
#[derive(Debug, Clone, Default)]
pub struct AnvilOptions {
    /// The chain id (anvil's default is 31337).
    pub chain_id: Option<u64>,
    /// `--no-mining`: no automine and no interval mining; blocks are mined only by `evm_mine`.
    pub no_mining: bool,
    /// `--block-time <secs>`: interval mining instead of automine.
    pub block_time: Option<u64>,
    /// `--base-fee <wei>`: the genesis base fee.
    pub base_fee: Option<u128>,
    /// Anything else, passed as is.
    pub extra_args: Vec<String>,
}

impl AnvilOptions {
    pub fn chain_id(mut self, id: u64) -> Self {
        self.chain_id = Some(id);
        self
    }
    pub fn no_mining(mut self) -> Self {
        self.no_mining = true;
        self
    }
    pub fn block_time(mut self, secs: u64) -> Self {
        self.block_time = Some(secs);
        self
    }
    pub fn base_fee(mut self, wei: u128) -> Self {
        self.base_fee = Some(wei);
        self
    }
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// A running anvil; killed on drop.
pub struct Anvil {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub port: u16,
    pub chain_id: u64,
}

impl Anvil {
    fn binary() -> Result<PathBuf, String> {
        if let Ok(p) = std::env::var("VANTA_ANVIL") {
            let p = PathBuf::from(p);
            if p.exists() {
                return Ok(p);
            }
        }
        let root = repo_root();
        for rel in ["node_modules/.bin/anvil", "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"] {
            let p = root.join(rel);
            if p.exists() {
                return Ok(p);
            }
        }
        Err("anvil not found: run `make tools` (or `make test`), or set VANTA_ANVIL".into())
    }

    /// Starts anvil with automine and chain id 31337, and waits until it answers.
    pub async fn start() -> Result<Self, String> {
        Self::start_with(AnvilOptions::default()).await
    }

    /// Starts anvil with `options` and waits until it answers JSON-RPC with its chain id.
    ///
    /// A port from [`free_port`] is released before anvil binds it, so another process can take
    /// it in between (tests run in parallel): an open port alone proves nothing. Anvil counts as
    /// started only when it is still running and answers `eth_chainId` with its own chain id;
    /// otherwise it is stopped and started again on a fresh port (three attempts).
    pub async fn start_with(options: AnvilOptions) -> Result<Self, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::start_once(&options).await {
                Ok(anvil) => return Ok(anvil),
                Err(e) => last = e,
            }
        }
        Err(format!("anvil did not start: {last}"))
    }

    async fn start_once(options: &AnvilOptions) -> Result<Self, String> {
        let bin = Self::binary()?;
        let port = free_port().map_err(|e| e.to_string())?;
        let chain_id = options.chain_id.unwrap_or(31337);
        let mut args: Vec<String> =
            vec!["--host".into(), "127.0.0.1".into(), "--port".into(), port.to_string(), "--chain-id".into(), chain_id.to_string()];
        if options.no_mining {
            args.push("--no-mining".into());
        }
        if let Some(secs) = options.block_time {
            args.push("--block-time".into());
            args.push(secs.to_string());
        }
        if let Some(wei) = options.base_fee {
            args.push("--base-fee".into());
            args.push(wei.to_string());
        }
        args.extend(options.extra_args.iter().cloned());
        let mut child = Command::new(&bin)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("anvil exited on port {port} ({status})"));
            }
            if answers_chain_id(addr, chain_id).await {
                return Ok(Self { child, endpoint: format!("http://{addr}"), port, chain_id });
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                return Err(format!("no JSON-RPC answer on port {port} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether the JSON-RPC server on `addr` answers `eth_chainId` with `chain_id`.
async fn answers_chain_id(addr: SocketAddr, chain_id: u64) -> bool {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    matches!(probe::exchange(addr, "POST", "/", body).await, Some(reply) if reply.contains(&format!("\"0x{chain_id:x}\"")))
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
