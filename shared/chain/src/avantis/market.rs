//! Batched-market submission (`POST /market/execute-batched`, answered with an SSE stream of order
//! events) and the status replay (`GET /tracking-id/{id}/status?afterSeq=`).
//!
//! Settlement follows the SDK: `MarketOrderAccepted` carries the tracking id; `AttemptFailed` and
//! unknown events are informational; `MarketOrderExecuted` / `PositionSizeIncreased` are success,
//! `MarketOrderCanceled` and `Error` failures; `Error{code: STREAM_TIMEOUT}`, a dropped stream, a
//! silent stream or a stream that ends without a terminal event after acceptance switch to
//! polling the status replay from the last seen sequence number. Without a tracking id nothing
//! can be said about the order: the caller gets [`SubmitError::Unknown`] and must reconcile.

use tokio::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};
use vanta_domain::error::DomainError;

use super::{ApiError, AvantisClient, CallError, Safety, Service, error_from_body};
use crate::avantis::intents::SignedIntent;

/// The body of `POST /market/execute-batched`: the signed intent and, as the official client
/// sends every market order, the EIP-7702 leg of the same order ([`super::eip7702`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketSubmission {
    /// Aggregator order type: 0 open, 6 open (Upside), 1 close, 7 close (Upside), …
    pub order_type: u8,
    /// `0x` + `encodedIntent`.
    pub user_intent: String,
    /// `0x` + 65-byte signature.
    pub user_signature: String,
    /// The `eip7702` object (`RelayRequestParamsDto`), when built.
    pub eip7702: Option<Value>,
}

impl MarketSubmission {
    /// An intent-only submission (the market-maker fast path; refused by a venue in EIP-7702 mode).
    pub fn new(order_type: u8, signed: &SignedIntent) -> Self {
        Self { order_type, user_intent: signed.encoded_hex(), user_signature: signed.signature_hex(), eip7702: None }
    }

    /// With the order's EIP-7702 leg.
    pub fn with_leg(mut self, leg: &super::eip7702::Eip7702Leg) -> Self {
        self.eip7702 = Some(leg.body());
        self
    }

    pub fn body(&self) -> Value {
        let mut body =
            json!({ "orderType": self.order_type, "erc712": { "userIntent": self.user_intent, "userSignature": self.user_signature } });
        if let (Some(leg), Some(o)) = (&self.eip7702, body.as_object_mut()) {
            o.insert("eip7702".to_owned(), leg.clone());
        }
        body
    }
}

/// One order event, from the stream or the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketEvent {
    /// Sequence number (absent on connection-scoped events such as `STREAM_TIMEOUT`).
    pub seq: Option<u64>,
    /// Event type (`MarketOrderAccepted`, `MarketOrderExecuted`, …; `message` when untyped).
    pub kind: String,
    /// The JSON object of the event (`{"raw": …}` for non-JSON data).
    pub payload: Value,
}

/// How a market order ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MarketOutcome {
    /// Filled (`MarketOrderExecuted` / `PositionSizeIncreased`); `payload` is the terminal event's.
    Executed { tracking_id: String, order_id: Option<u64>, tx_hash: Option<String>, payload: Value },
    /// The transaction landed but the protocol declined the fill (e.g. slippage); nothing changed.
    Canceled { tracking_id: String, payload: Value },
    /// An `Error` event. `queued` is false when the order provably never reached the execution
    /// queue (`ENQUEUE_FAILED`, or an `Error` without sequence number other than a stream timeout).
    Failed { tracking_id: Option<String>, code: String, message: String, queued: bool },
}

/// Why a submission has no outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitError {
    /// HTTP ≥ 400 before any stream: the order was not accepted.
    Rejected(ApiError),
    /// The request never reached the server.
    NotSent(String),
    /// Sent, but no tracking id was seen: the order may or may not have been accepted.
    Unknown(String),
    /// Accepted, but no terminal event arrived within the polling window.
    Pending { tracking_id: String, last_seq: Option<u64>, reason: String },
}

impl SubmitError {
    pub fn to_domain(&self) -> DomainError {
        match self {
            SubmitError::Rejected(e) => e.to_domain(),
            SubmitError::NotSent(m) => DomainError::Unavailable(m.clone()),
            SubmitError::Unknown(m) => DomainError::Ambiguous(format!("market order: {m}")),
            SubmitError::Pending { tracking_id, reason, .. } => {
                DomainError::Ambiguous(format!("market order {tracking_id} accepted, outcome unknown: {reason}"))
            }
        }
    }
}

/// A replay answer.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingStatus {
    pub events: Vec<MarketEvent>,
}

// ---------------------------------------------------------------------------------------------
// SSE parsing
// ---------------------------------------------------------------------------------------------

/// Incremental `text/event-stream` parser.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    id: Option<u64>,
    event: Option<String>,
    data: Vec<String>,
    has_fields: bool,
}

impl SseParser {
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<MarketEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(raw.get(..pos).unwrap_or_default()).into_owned();
            let line = text.strip_suffix('\r').unwrap_or(&text);
            if line.is_empty() {
                if let Some(ev) = self.dispatch() {
                    out.push(ev);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "id" => {
                    self.id = value.trim().parse().ok();
                    self.has_fields = true;
                }
                "event" => {
                    self.event = Some(value.to_owned());
                    self.has_fields = true;
                }
                "data" => {
                    self.data.push(value.to_owned());
                    self.has_fields = true;
                }
                _ => {} // retry: and unknown fields
            }
        }
        out
    }

    fn dispatch(&mut self) -> Option<MarketEvent> {
        if !self.has_fields {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        let payload = match serde_json::from_str::<Value>(&data) {
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => json!({ "value": other }),
            Err(_) => json!({ "raw": data }),
        };
        let ev = MarketEvent { seq: self.id.take(), kind: self.event.take().unwrap_or_else(|| "message".to_owned()), payload };
        self.has_fields = false;
        Some(ev)
    }
}

// ---------------------------------------------------------------------------------------------
// Settlement
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    pub(crate) tracking_id: Option<String>,
    pub(crate) last_seq: Option<u64>,
    pub(crate) order_id: Option<u64>,
    pub(crate) tx_hash: Option<String>,
}

pub(crate) enum Step {
    Continue,
    Done(MarketOutcome),
    /// The stream's view expired: poll the replay.
    Poll,
}

fn str_field(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_owned)
}

impl Tracker {
    pub(crate) fn apply(&mut self, ev: &MarketEvent) -> Step {
        if let (Some(seq), Some(last)) = (ev.seq, self.last_seq)
            && seq <= last
        {
            return Step::Continue; // already seen (replay overlap)
        }
        if let Some(seq) = ev.seq {
            self.last_seq = Some(seq);
        }
        let p = &ev.payload;
        if self.tracking_id.is_none() {
            self.tracking_id = str_field(p, "trackingId");
        }
        if let Some(id) = p.get("orderId").and_then(super::decimal::json_u64) {
            self.order_id = Some(id);
        }
        if let Some(tx) = str_field(p, "transactionHash") {
            self.tx_hash = Some(tx);
        }
        match ev.kind.as_str() {
            "MarketOrderExecuted" | "PositionSizeIncreased" => match &self.tracking_id {
                Some(id) => Step::Done(MarketOutcome::Executed {
                    tracking_id: id.clone(),
                    order_id: self.order_id,
                    tx_hash: self.tx_hash.clone(),
                    payload: p.clone(),
                }),
                None => Step::Done(MarketOutcome::Executed {
                    tracking_id: String::new(),
                    order_id: self.order_id,
                    tx_hash: self.tx_hash.clone(),
                    payload: p.clone(),
                }),
            },
            "MarketOrderCanceled" => {
                Step::Done(MarketOutcome::Canceled { tracking_id: self.tracking_id.clone().unwrap_or_default(), payload: p.clone() })
            }
            "Error" => {
                let code = str_field(p, "code").unwrap_or_default();
                let message = str_field(p, "message").unwrap_or_default();
                let legacy_timeout = code.is_empty() && ev.seq.is_none() && message.contains("timed out");
                if (code == "STREAM_TIMEOUT" || legacy_timeout) && self.tracking_id.is_some() {
                    return Step::Poll;
                }
                let queued = !(code == "ENQUEUE_FAILED" || ev.seq.is_none());
                Step::Done(MarketOutcome::Failed {
                    tracking_id: self.tracking_id.clone(),
                    code: if code.is_empty() { "UNKNOWN".to_owned() } else { code },
                    message,
                    queued,
                })
            }
            _ => Step::Continue,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client calls
// ---------------------------------------------------------------------------------------------

enum StreamEnd {
    Outcome(MarketOutcome),
    /// The stream stopped without an outcome; why.
    Interrupted(String),
}

impl AvantisClient {
    /// Submits a signed market order and follows it to its outcome: the SSE stream, then the
    /// status replay if the stream breaks after acceptance. Never re-POSTs except when the
    /// connection could not be opened at all.
    pub async fn submit_market(&self, sub: &MarketSubmission) -> Result<MarketOutcome, SubmitError> {
        let url = self.url(Service::BatchedMarket, "/market/execute-batched");
        let endpoint = "POST /market/execute-batched";
        let body = sub.body();
        let mut attempt = 0u32;
        let resp = loop {
            let send = self
                .http
                .post(&url)
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .timeout(self.cfg.sse_max_duration)
                .json(&body)
                .send();
            match tokio::time::timeout(self.cfg.request_timeout, send).await {
                Err(_) => return Err(SubmitError::Unknown(format!("no answer within {:?}", self.cfg.request_timeout))),
                Ok(Ok(r)) => break r,
                Ok(Err(e)) if e.is_connect() => {
                    if attempt < self.cfg.retries {
                        tokio::time::sleep(self.cfg.retry_backoff.saturating_mul(2u32.saturating_pow(attempt))).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(SubmitError::NotSent(format!("cannot connect to the batched-market service: {e}")));
                }
                Ok(Err(e)) => return Err(SubmitError::Unknown(format!("connection failed after sending: {e}"))),
            }
        };
        let status = resp.status().as_u16();
        if status >= 500 {
            // Only a 4xx proves the order was not accepted; a gateway 5xx may follow a delivery.
            return Err(SubmitError::Unknown(format!("the batched-market service answered {status} before any event")));
        }
        if status >= 400 {
            let text = match tokio::time::timeout(self.cfg.request_timeout, resp.bytes()).await {
                Ok(Ok(b)) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            return Err(SubmitError::Rejected(error_from_body(status, text.trim(), endpoint)));
        }
        let mut tracker = Tracker::default();
        match self.read_stream(resp, &mut tracker).await {
            StreamEnd::Outcome(o) => Ok(o),
            StreamEnd::Interrupted(reason) => match tracker.tracking_id.clone() {
                None => Err(SubmitError::Unknown(reason)),
                Some(id) => {
                    tracing::info!(tracking_id = %id, reason = %reason, "market stream interrupted; replaying by tracking id");
                    self.follow_tracking(&id, &mut tracker).await
                }
            },
        }
    }

    async fn read_stream(&self, mut resp: reqwest::Response, tracker: &mut Tracker) -> StreamEnd {
        let mut parser = SseParser::default();
        loop {
            let chunk = match tokio::time::timeout(self.cfg.sse_idle_timeout, resp.chunk()).await {
                Err(_) => return StreamEnd::Interrupted(format!("no event for {:?}", self.cfg.sse_idle_timeout)),
                Ok(Err(e)) => return StreamEnd::Interrupted(format!("stream dropped: {e}")),
                Ok(Ok(None)) => return StreamEnd::Interrupted("stream ended without a terminal event".to_owned()),
                Ok(Ok(Some(c))) => c,
            };
            for ev in parser.push(&chunk) {
                match tracker.apply(&ev) {
                    Step::Continue => {}
                    Step::Done(o) => return StreamEnd::Outcome(o),
                    Step::Poll => return StreamEnd::Interrupted("stream view expired (STREAM_TIMEOUT)".to_owned()),
                }
            }
        }
    }

    /// One replay read: events with `seq > after_seq` (all when `None`). `NotFound` for an
    /// unknown tracking id.
    pub async fn tracking_status(&self, tracking_id: &str, after_seq: Option<u64>) -> Result<TrackingStatus, DomainError> {
        self.tracking_status_raw(tracking_id, after_seq).await.map_err(CallError::for_read)
    }

    async fn tracking_status_raw(&self, tracking_id: &str, after_seq: Option<u64>) -> Result<TrackingStatus, CallError> {
        if tracking_id.is_empty() || !tracking_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
            return Err(CallError::Decode(format!("not a tracking id: {tracking_id:?}")));
        }
        let query: Vec<(&str, String)> = after_seq.map(|s| ("afterSeq", s.to_string())).into_iter().collect();
        let v: Value = self
            .call_json(Service::BatchedMarket, Method::GET, &format!("/tracking-id/{tracking_id}/status"), &query, None, Safety::Idempotent)
            .await?;
        let mut events: Vec<MarketEvent> = v
            .get("events")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| MarketEvent {
                        seq: e.get("seq").and_then(super::decimal::json_u64),
                        kind: e.get("type").and_then(Value::as_str).unwrap_or("message").to_owned(),
                        payload: e.get("payload").cloned().unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default();
        events.sort_by_key(|e| e.seq);
        Ok(TrackingStatus { events })
    }

    /// Polls the replay from the tracker's last sequence number until a terminal event or the
    /// polling window ends.
    pub(crate) async fn follow_tracking(&self, tracking_id: &str, tracker: &mut Tracker) -> Result<MarketOutcome, SubmitError> {
        let start = Instant::now();
        let mut last_error = String::from("no terminal event yet");
        loop {
            match self.tracking_status_raw(tracking_id, tracker.last_seq).await {
                Ok(status) => {
                    for ev in &status.events {
                        if let Step::Done(o) = tracker.apply(ev) {
                            return Ok(o);
                        }
                    }
                }
                Err(e) => last_error = format!("{:?}", e.for_read()),
            }
            if start.elapsed() >= self.cfg.status_poll_timeout {
                return Err(SubmitError::Pending { tracking_id: tracking_id.to_owned(), last_seq: tracker.last_seq, reason: last_error });
            }
            tokio::time::sleep(self.cfg.status_poll_interval).await;
        }
    }

    /// Replays a tracking id from the start until its outcome (or the polling window ends).
    pub async fn wait_tracking(&self, tracking_id: &str) -> Result<MarketOutcome, SubmitError> {
        let mut tracker = Tracker { tracking_id: Some(tracking_id.to_owned()), ..Tracker::default() };
        self.follow_tracking(tracking_id, &mut tracker).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    #[test]
    fn parses_the_documented_stream_in_pieces() {
        let text = "retry: 3000\n\n: open\n\nid: 0\nevent: MarketOrderAccepted\ndata: {\"trackingId\": \"trk-1\"}\n\n: hb\n\nid: 1\r\nevent: MarketOrderInitiated\r\ndata: {\"orderId\": 42, \"transactionHash\": \"0xinit\"}\r\n\r\nid: 2\nevent: MarketOrderExecuted\ndata: {\"orderId\": 42, \"transactionHash\": \"0xtx\"}\n\n";
        let mut p = SseParser::default();
        let mut events = Vec::new();
        for chunk in text.as_bytes().chunks(7) {
            events.extend(p.push(chunk));
        }
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].kind, "MarketOrderAccepted");
        assert_eq!(events[2].seq, Some(2));
        let mut t = Tracker::default();
        assert!(matches!(t.apply(&events[0]), Step::Continue));
        assert!(matches!(t.apply(&events[1]), Step::Continue));
        match t.apply(&events[2]) {
            Step::Done(MarketOutcome::Executed { tracking_id, order_id, tx_hash, .. }) => {
                assert_eq!(tracking_id, "trk-1");
                assert_eq!(order_id, Some(42));
                assert_eq!(tx_hash.as_deref(), Some("0xtx"));
            }
            _ => panic!("not executed"),
        }
    }

    #[test]
    fn stream_timeout_switches_to_polling_and_enqueue_failure_is_not_queued() {
        let mut p = SseParser::default();
        let evs = p.push(b"id: 0\nevent: MarketOrderAccepted\ndata: {\"trackingId\":\"t\"}\n\nevent: Error\ndata: {\"code\":\"STREAM_TIMEOUT\",\"message\":\"Stream view expired\"}\n\n");
        let mut t = Tracker::default();
        t.apply(&evs[0]);
        assert!(matches!(t.apply(&evs[1]), Step::Poll));
        let evs = p.push(b"event: Error\ndata: {\"code\":\"ENQUEUE_FAILED\",\"message\":\"x\"}\n\n");
        let mut t = Tracker::default();
        assert!(matches!(t.apply(&evs[0]), Step::Done(MarketOutcome::Failed { queued: false, .. })));
    }
}
