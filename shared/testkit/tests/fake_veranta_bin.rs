#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The `fake-veranta` program: its greeting line, its stdin commands, and the fake it serves.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::str::FromStr;

use alloy::signers::local::PrivateKeySigner;
use serde_json::Value;

struct Program {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Program {
    fn start() -> (Self, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fake-veranta"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fake-veranta");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let hello: Value = serde_json::from_str(&line).expect("the greeting is one JSON line");
        (Self { child, stdin, stdout }, hello)
    }

    fn send(&mut self, command: &str) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).expect("each answer is one JSON line")
    }
}

/// A plain HTTP/1.1 GET; returns the status and the body.
fn get(url: &str) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_program_greets_serves_and_answers_every_command() {
    let (mut p, hello) = Program::start();
    let urls = &hello["urls"];
    let base = urls["base"].as_str().unwrap();
    for (name, suffix) in
        [("tx_builder", "/txb"), ("batched_market", "/batched-market"), ("core", "/core"), ("data", "/data"), ("feed", "/feed")]
    {
        assert_eq!(urls[name].as_str().unwrap(), format!("{base}{suffix}"), "{name}");
    }
    // The keys are the named accounts'.
    for (addr, key) in [("trader", "trader_private_key"), ("delegate", "delegate_private_key")] {
        let signer = PrivateKeySigner::from_str(hello[key].as_str().unwrap()).unwrap();
        assert_eq!(signer.address().to_checksum(None), hello[addr].as_str().unwrap());
    }
    assert_ne!(hello["trader"], hello["delegate"]);
    assert_eq!(hello["chain_id"], 31337);
    assert!(hello["trading_router"].as_str().unwrap().starts_with("0x"));

    assert_eq!(p.send("ping"), serde_json::json!({ "ok": true, "pong": true }));
    let balance = p.send("balance");
    assert_eq!((balance["balance"].as_str(), balance["balanceUsdc"].as_str()), (Some("10000000000"), Some("10000")));
    assert_eq!(p.send("positions")["positions"], serde_json::json!([]));

    // The delegation is active, for intents and for delegated actions.
    let tx = urls["tx_builder"].as_str().unwrap();
    let (trader, delegate) = (hello["trader"].as_str().unwrap(), hello["delegate"].as_str().unwrap());
    let (status, body) = get(&format!("{tx}/v2/delegation?trader={trader}&delegate={delegate}"));
    assert_eq!(status, 200);
    assert_eq!((body["data"]["canSignIntents"].as_bool(), body["data"]["canDelegatedAction"].as_bool()), (Some(true), Some(true)));

    // The feed answers a price for a listed pair.
    let (status, body) = get(&format!("{}/v2/pairs/0/price-update-data", urls["feed"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert!(body["pro"]["priceUpdateData"].as_str().unwrap().starts_with("0x"));

    // The log records what it saw; clear empties it.
    let log = p.send("log")["requests"].as_array().unwrap().clone();
    let endpoints: Vec<&str> = log.iter().map(|r| r["endpoint"].as_str().unwrap()).collect();
    assert_eq!(endpoints, ["Delegation", "PriceUpdateData"]);
    assert_eq!(log[0]["status"], 200);
    assert_eq!(p.send("clear"), serde_json::json!({ "ok": true }));
    assert_eq!(p.send("log")["requests"], serde_json::json!([]));

    // An injected failure answers once, with the message given (spaces kept).
    assert_eq!(p.send("fail Meta 1 429 RATE_LIMITED slow down please")["ok"], true);
    let (status, body) = get(&format!("{tx}/v2/meta"));
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["message"], "slow down please");
    assert_eq!(get(&format!("{tx}/v2/meta")).0, 200);

    for good in ["outcome execute", "outcome retry", "outcome enqueue_failed", "outcome cancel:HighSlippage", "outcome error:RELAY_TIMEOUT"]
    {
        assert_eq!(p.send(good)["ok"], true, "{good}");
    }
    for bad in [
        "outcome maybe",
        "outcome cancel:",
        "fail Nowhere 1 500 X y",
        "fail Meta one 500 X y",
        "fail Meta 1 200 OK fine",
        "fail Meta 1",
        "dance",
        "",
    ] {
        let answer = p.send(bad);
        assert_eq!(answer["ok"], false, "{bad:?} was accepted: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad:?} has no reason");
    }

    // End of stdin stops the program.
    drop(p.stdin);
    assert!(p.child.wait().unwrap().success());
}
