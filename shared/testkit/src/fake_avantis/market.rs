//! The batched-market service (`{batched-market}`): `POST /market/execute-batched` validates a
//! signed intent, runs it against the book and answers the event stream
//! (`MarketOrderAccepted → MarketOrderInitiated → MarketOrderExecuted`, or a cancel or an error);
//! `GET /tracking-id/{id}/status?afterSeq=` replays the stored events.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use alloy::primitives::{Address, U256};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use vanta_chain::eip712::Intent;

use super::book::{apply_due_tpsl, execute_close, execute_open, find_position};
use super::validate::validate_submission;
use super::wire::{Body, Reply, Svc, err, ok, render, tx_hash};
use super::{FakeOutcome, LoggedEvent, Stall, State, StreamCut, history, lock, now_ms};

/// A body fed from a channel (the SSE stream); an `Err` item aborts the connection.
pub(super) struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

pub(super) struct Accepted {
    tracking_id: String,
    events: Vec<LoggedEvent>,
}

pub(super) fn nest(status: u16, message: &str) -> Response<Body> {
    render(err(Svc::Batched, status, "BAD_REQUEST", message))
}

/// Runs an accepted order against the book and writes its event log.
pub(super) fn process(st: &mut State, order_type: u8, intent: &Intent, signer: Address) -> Accepted {
    apply_due_tpsl(st);
    let outcome = st.outcomes.pop_front().unwrap_or(FakeOutcome::Execute);
    let id = st.fresh_id();
    let tracking_id = format!("trk-{id}");
    let order_id = id;
    let at = now_ms();
    let mut events = vec![LoggedEvent { seq: 0, kind: "MarketOrderAccepted".into(), payload: json!({ "trackingId": tracking_id }), at }];
    if outcome == FakeOutcome::EnqueueFailed {
        return Accepted {
            tracking_id,
            events: vec![LoggedEvent {
                seq: u64::MAX,
                kind: "Error".into(),
                payload: json!({ "code": "ENQUEUE_FAILED", "message": "could not enqueue" }),
                at,
            }],
        };
    }
    let nonce = match intent {
        Intent::OpenTradeReq(m) => m._nonce,
        Intent::CloseTradeReq(m) => m._nonce,
        _ => U256::ZERO,
    };
    st.used_nonces.insert((signer, nonce));
    let (trader, pair, open) = match intent {
        Intent::OpenTradeReq(m) => (m._t.trader, u16::try_from(m._t.pairIndex).unwrap_or(u16::MAX), true),
        Intent::CloseTradeReq(m) => (m._trader, u16::try_from(m._pairIndex).unwrap_or(u16::MAX), false),
        _ => (Address::ZERO, 0, true),
    };
    let is_pnl = order_type == 6 || order_type == 7;
    let buy = match intent {
        Intent::OpenTradeReq(m) => m._t.buy,
        Intent::CloseTradeReq(m) => find_position(st, trader, pair, u32::try_from(m._index).unwrap_or(u32::MAX)).is_some_and(|p| p.buy),
        _ => true,
    };
    if outcome == FakeOutcome::ExecuteAfterRetry {
        events.push(LoggedEvent {
            seq: 0,
            kind: "AttemptFailed".into(),
            payload: json!({ "attempt": 1, "code": "NO_PRICE", "message": "no fresh price", "willRetry": true }),
            at,
        });
    }
    events.push(LoggedEvent {
        seq: 1,
        kind: "MarketOrderInitiated".into(),
        payload: json!({ "orderId": order_id, "trader": trader.to_checksum(None), "pairIndex": pair, "open": open, "isBuy": buy,
                         "isPnl": is_pnl, "transactionHash": tx_hash(order_id, 1) }),
        at,
    });
    let terminal = match outcome {
        FakeOutcome::Cancel(reason) => LoggedEvent {
            seq: 2,
            kind: "MarketOrderCanceled".into(),
            payload: json!({ "orderId": order_id, "trader": trader.to_checksum(None), "pairIndex": pair, "transactionHash": tx_hash(order_id, 2), "reason": reason }),
            at,
        },
        FakeOutcome::Error(code) => error_event(&tracking_id, &code, "execution failed", at),
        FakeOutcome::Execute | FakeOutcome::ExecuteAfterRetry | FakeOutcome::EnqueueFailed => match intent {
            Intent::OpenTradeReq(m) => execute_open(st, m, is_pnl, order_id, at),
            Intent::CloseTradeReq(m) => {
                execute_close(st, m, order_id, at).unwrap_or_else(|code| error_event(&tracking_id, &code, "execution reverted", at))
            }
            _ => error_event(&tracking_id, "UNSUPPORTED", "unsupported", at),
        },
    };
    events.push(terminal);
    for (seq, e) in (0u64..).zip(events.iter_mut()) {
        e.seq = seq;
    }
    st.tracking.insert(tracking_id.clone(), events.clone());
    Accepted { tracking_id, events }
}

pub(super) fn error_event(tracking_id: &str, code: &str, message: &str, at: u64) -> LoggedEvent {
    LoggedEvent {
        seq: 2,
        kind: "Error".into(),
        payload: json!({ "status": "failed", "code": code, "message": message, "trackingId": tracking_id }),
        at,
    }
}

pub(super) fn frame(e: &LoggedEvent) -> String {
    if e.seq == u64::MAX {
        format!("event: {}\ndata: {}\n\n", e.kind, e.payload)
    } else {
        format!("id: {}\nevent: {}\ndata: {}\n\n", e.seq, e.kind, e.payload)
    }
}

pub(super) async fn execute_batched(state: &Mutex<State>, body: &Value) -> Response<Body> {
    let validated = {
        let st = lock(state);
        validate_submission(&st, body)
    };
    let (order_type, intent, signer) = match validated {
        Ok(v) => v,
        Err(m) => return nest(400, &m),
    };
    let stall = lock(state).stalls.pop_front();
    if let Some(Stall::LoseThenStall(d)) = stall {
        tokio::time::sleep(d).await;
        return render(err(Svc::Batched, 504, "GATEWAY_TIMEOUT", "upstream timed out"));
    }
    let (accepted, cut, delay) = {
        let mut st = lock(state);
        let accepted = process(&mut st, order_type, &intent, signer);
        // An un-id'd (never queued) answer has no stream to cut.
        let cut = if accepted.events.iter().any(|e| e.seq == u64::MAX) { None } else { st.cuts.pop_front() };
        (accepted, cut, st.event_delay)
    };
    if lock(state).events.take_drop_reply() {
        // Executed, and the reply lost: not a status line nor an event for a minute (the client
        // gives up first), then a gateway timeout.
        tokio::time::sleep(history::LOST_REPLY_SILENCE).await;
        return render(err(Svc::Batched, 504, "GATEWAY_TIMEOUT", "upstream timed out"));
    }
    tracing::debug!(tracking_id = %accepted.tracking_id, "fake Avantis accepted a market order");
    if let Some(Stall::FillThenStall(d)) = stall {
        tokio::time::sleep(d).await;
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from_static(b"retry: 3000\n\n: open\n\n"))).await;
        for (i, e) in accepted.events.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Ok(Bytes::from_static(b": hb\n\n"))).await;
            }
            if tx.send(Ok(Bytes::from(frame(e)))).await.is_err() {
                return;
            }
            if i == 0
                && let Some(cut) = cut
            {
                tokio::time::sleep(delay).await;
                let last = match cut {
                    StreamCut::Drop => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stream dropped by the fake")),
                    StreamCut::StreamTimeout => Ok(Bytes::from(format!(
                        "event: Error\ndata: {}\n\n",
                        json!({ "code": "STREAM_TIMEOUT", "message": "Stream view expired", "trackingId": accepted.tracking_id })
                    ))),
                    StreamCut::EndWithoutTerminal => return,
                };
                let _ = tx.send(last).await;
                return;
            }
        }
    });
    let mut resp = Response::new(BodyExt::boxed(ChannelBody(rx)));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream; charset=utf-8"));
    resp.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /tracking-id/{id}/status?afterSeq=`: the order's events after `afterSeq`.
pub(super) fn status(st: &State, svc: Svc, rest: &str, q: &HashMap<String, String>) -> Reply {
    let id = rest.trim_start_matches("/tracking-id/").trim_end_matches("/status");
    let after = q.get("afterSeq").and_then(|s| s.parse::<u64>().ok());
    match st.tracking.get(id) {
        None => err(svc, 404, "NOT_FOUND", "Unknown trackingId"),
        Some(events) => ok(
            svc,
            json!({ "events": events.iter().filter(|e| after.is_none_or(|a| e.seq > a)).map(|e| json!({
                "seq": e.seq, "type": e.kind, "payload": e.payload, "at": e.at,
            })).collect::<Vec<_>>() }),
        ),
    }
}
