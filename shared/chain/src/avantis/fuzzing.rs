//! Entry points for the in-repo fuzzer (`shared/fuzz`, `make fuzz`) into parsers that are
//! otherwise private to the client: the SSE order-event stream, its settlement and the error
//! envelope. They call the very code the client runs; nothing here is used in production.

use vanta_domain::error::DomainError;

use super::market::{MarketEvent, MarketOutcome, SseParser, Step, Tracker};

/// The events of an SSE stream delivered in the given pieces, as the client reads them.
pub fn sse_events(chunks: &[&[u8]]) -> Vec<MarketEvent> {
    let mut parser = SseParser::default();
    chunks.iter().flat_map(|c| parser.push(c)).collect()
}

/// How the client settles these events: `Ok(Some(outcome))` at a terminal event,
/// `Err(())` when it would switch to polling the status replay, `Ok(None)` when the stream
/// said nothing final.
#[allow(clippy::result_unit_err)]
pub fn settle(events: &[MarketEvent]) -> Result<Option<MarketOutcome>, ()> {
    let mut tracker = Tracker::default();
    for ev in events {
        match tracker.apply(ev) {
            Step::Continue => {}
            Step::Done(outcome) => return Ok(Some(outcome)),
            Step::Poll => return Err(()),
        }
    }
    Ok(None)
}

/// The domain error the client makes of an error answer (`status`, `body`).
pub fn api_error(status: u16, body: &str) -> DomainError {
    super::error_from_body(status, body, "POST /fuzz").to_domain()
}
