//! Routing: a request's service (by path prefix) and endpoint, the request log, injected delays
//! and failures, then the endpoint's handler.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::Value;

use super::book::apply_due_tpsl;
use super::wire::{Body, Reply, Svc, err, ok, query_map, render};
use super::{Endpoint, LoggedRequest, State, core, data, feed, history, lock, market, risk, tx_builder};

pub(super) fn route(method: &Method, path: &str) -> Option<(Svc, Endpoint, String)> {
    let (svc, rest) = if let Some(r) = path.strip_prefix("/txb") {
        (Svc::TxBuilder, r)
    } else if let Some(r) = path.strip_prefix("/data") {
        (Svc::Data, r)
    } else if let Some(r) = path.strip_prefix("/batched-market") {
        (Svc::Batched, r)
    } else if let Some(r) = path.strip_prefix("/core") {
        (Svc::Core, r)
    } else if let Some(r) = path.strip_prefix("/feed") {
        (Svc::Feed, r)
    } else if let Some(r) = path.strip_prefix("/history") {
        (Svc::History, r)
    } else if let Some(r) = path.strip_prefix("/risk/v2") {
        (Svc::Risk, r)
    } else {
        return None;
    };
    let ep = match (svc, method.as_str(), rest) {
        (Svc::TxBuilder, "GET", "/v2/meta") => Endpoint::Meta,
        (Svc::TxBuilder, "GET", "/v2/pairs") => Endpoint::Pairs,
        (Svc::TxBuilder, "GET", "/v2/positions") => Endpoint::Positions,
        (Svc::TxBuilder, "GET", "/v2/delegation") => Endpoint::Delegation,
        (Svc::TxBuilder, "GET", "/v2/nonce") => Endpoint::Nonce,
        (Svc::TxBuilder, "GET", "/v2/allowance") => Endpoint::Allowance,
        (Svc::TxBuilder, "POST", "/v2/intents/open") => Endpoint::IntentOpen,
        (Svc::TxBuilder, "POST", "/v2/intents/close") => Endpoint::IntentClose,
        (Svc::TxBuilder, "POST", "/v2/intents/tpsl-update") => Endpoint::IntentTpslUpdate,
        (Svc::TxBuilder, "POST", "/v2/intents/tpsl-partial") => Endpoint::IntentTpslPartial,
        (Svc::TxBuilder, "POST", "/v2/intents/offchain-cancel") => Endpoint::IntentOffchainCancel,
        (Svc::TxBuilder, "POST", "/v2/trade/open") => Endpoint::TradeOpen,
        (Svc::TxBuilder, "POST", "/v2/trade/close") => Endpoint::TradeClose,
        (Svc::Data, "GET", "/v2/trading") => Endpoint::Trading,
        (Svc::Batched, "POST", "/market/execute-batched") => Endpoint::ExecuteBatched,
        (Svc::Batched, "GET", r) if r.starts_with("/tracking-id/") && r.ends_with("/status") => Endpoint::Status,
        (Svc::Core, "GET", "/user-data") => Endpoint::UserData,
        (Svc::Core, "POST", "/price-triggers") => Endpoint::PriceTriggerCreate,
        (Svc::Core, "PUT", r) if r.starts_with("/price-triggers/") => Endpoint::PriceTriggerPut,
        (Svc::Core, "DELETE", "/price-triggers") => Endpoint::PriceTriggerDelete,
        (Svc::Feed, "GET", r) if r.starts_with("/v2/pairs/") && r.ends_with("/price-update-data") => Endpoint::PriceUpdateData,
        (Svc::History, "GET", r) if r.starts_with("/v2/history/trade-history/") => Endpoint::TradeHistory,
        (Svc::Risk, "POST", "/spread") => Endpoint::Spread,
        _ => return None,
    };
    Some((svc, ep, rest.to_owned()))
}

pub(super) async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let full_path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body: Option<Value> = if raw.is_empty() { None } else { serde_json::from_slice(&raw).ok() };
    let routed = route(&method, &full_path);
    let log_index = {
        let mut st = lock(&state);
        st.log.push(LoggedRequest {
            method: method.to_string(),
            path: routed.as_ref().map_or_else(|| full_path.clone(), |(_, _, rest)| rest.clone()),
            endpoint: routed.as_ref().map(|(_, ep, _)| *ep),
            query: query.clone(),
            body: body.clone(),
            status: 0,
        });
        st.log.len() - 1
    };
    let Some((svc, ep, rest)) = routed else {
        return finish(&state, log_index, render(err(Svc::TxBuilder, 404, "NOT_FOUND", &format!("no route {method} {full_path}"))));
    };
    let delay = lock(&state).delays.get_mut(&ep).and_then(VecDeque::pop_front);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let failure = lock(&state).failures.get_mut(&ep).and_then(VecDeque::pop_front);
    if let Some(f) = failure {
        return finish(&state, log_index, render(err(svc, f.status, &f.code, &f.message)));
    }
    if body.is_none() && matches!(method, Method::POST | Method::PUT | Method::DELETE) {
        return finish(&state, log_index, render(err(svc, 400, "VALIDATION_ERROR", "a JSON body is required")));
    }
    let body = body.unwrap_or(Value::Null);
    let q = query_map(&query);
    let resp = match ep {
        Endpoint::ExecuteBatched => market::execute_batched(&state, &body).await,
        _ => render(dispatch(&state, svc, ep, &rest, &q, &body)),
    };
    finish(&state, log_index, resp)
}

pub(super) fn finish(state: &Mutex<State>, index: usize, resp: Response<Body>) -> Response<Body> {
    if let Some(entry) = lock(state).log.get_mut(index) {
        entry.status = resp.status().as_u16();
    }
    resp
}

pub(super) fn dispatch(state: &Mutex<State>, svc: Svc, ep: Endpoint, rest: &str, q: &HashMap<String, String>, body: &Value) -> Reply {
    let mut st = lock(state);
    apply_due_tpsl(&mut st);
    match ep {
        Endpoint::Meta => ok(svc, tx_builder::meta(&st)),
        Endpoint::Pairs => tx_builder::pairs(&st, svc),
        Endpoint::Positions => tx_builder::positions(&mut st, svc, q),
        Endpoint::Delegation => tx_builder::delegation(&st, svc, q),
        Endpoint::Nonce => tx_builder::nonce(&st, svc, q),
        Endpoint::Allowance => tx_builder::allowance(&st, svc, q),
        Endpoint::IntentOpen => tx_builder::intent_open(&mut st, svc, body),
        Endpoint::IntentClose => tx_builder::intent_close(&mut st, svc, body),
        Endpoint::IntentTpslUpdate => tx_builder::intent_tpsl_update(&mut st, svc, body),
        Endpoint::IntentTpslPartial => tx_builder::intent_tpsl_partial(&mut st, svc, body),
        Endpoint::IntentOffchainCancel => tx_builder::intent_offchain_cancel(&st, svc, body),
        Endpoint::TradeOpen => tx_builder::trade_open(&mut st, svc, body),
        Endpoint::TradeClose => tx_builder::trade_close(&mut st, svc, body),
        Endpoint::Trading => data::trading(&st),
        Endpoint::Status => market::status(&st, svc, rest, q),
        Endpoint::UserData => core::user_data(&mut st, svc, q),
        Endpoint::PriceTriggerCreate => core::trigger_create(&mut st, svc, body),
        Endpoint::PriceTriggerPut => core::price_trigger_put(&mut st, svc, rest, body),
        Endpoint::PriceTriggerDelete => core::trigger_delete(&mut st, svc, body),
        Endpoint::PriceUpdateData => feed::price_update_data(&st, svc, rest),
        Endpoint::TradeHistory => {
            let (status, body) = history::trade_history(&st, rest);
            Reply::json(status, body)
        }
        Endpoint::Spread => risk::spread(&mut st, svc, body),
        Endpoint::ExecuteBatched => err(svc, 500, "INTERNAL_ERROR", "unreachable"),
    }
}
