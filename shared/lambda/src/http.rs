//! API Gateway → the app's [`axum::Router`]: `lambda_http` turns each event into an
//! `http::Request` (its request context in the extensions), the router answers it, and the
//! invocation's EMF metrics are flushed before the answer goes back.

use std::net::IpAddr;

use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::{Error, RequestExt, run, service_fn};
use tower::ServiceExt;
use vanta_app::Deps;
use vanta_app::http::SourceIp;

/// Serves `router` under the Lambda runtime until it stops.
pub async fn serve(router: axum::Router, deps: Deps) -> Result<(), Error> {
    run(service_fn(|req: lambda_http::Request| {
        let (router, deps) = (router.clone(), deps.clone());
        async move { Ok::<_, std::convert::Infallible>(call(router, &deps, req).await) }
    }))
    .await
}

/// One invocation: the caller's IP from the request context as [`SourceIp`], the router, then
/// the per-invocation EMF flush.
pub async fn call(router: axum::Router, deps: &Deps, mut req: lambda_http::Request) -> Response {
    if let Some(ip) = source_ip(&req) {
        req.extensions_mut().insert(SourceIp(ip));
    }
    let resp = match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    deps.metrics.emf.flush(deps.clock.now());
    resp
}

/// The caller's IP as API Gateway saw it (HTTP API or REST API).
fn source_ip(req: &lambda_http::Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        _ => None,
    };
    ip?.parse().ok()
}
