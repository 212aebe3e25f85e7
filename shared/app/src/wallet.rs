//! Proof of wallet ownership, shared by Telegram (`/bind`, `/verify`) and the webhook's signing
//! page (`GET /link/{nonce}`, `POST /link/{nonce}`).
//!
//! `/bind 0xADDR` stores a *pending* binding: a Sign-In with Ethereum challenge (EIP-4361) for
//! that address, valid for ten minutes and once. The address is bound, verified, only when a
//! signature over that exact message comes from it: recovered for an EOA, or accepted by the
//! contract wallet through EIP-1271 where the function has RPC. The store completes the proof
//! atomically ([`vanta_domain::ports::UserStore::verify_binding`]): the challenge is used once,
//! a wallet verified by one user is refused to every other, and an unverified binding gives way
//! to the owner who proves it. A wallet with open positions or orders in flight is not replaced.

use vanta_domain::DomainError;
use vanta_domain::ids::TraderAddress;
use vanta_domain::intent::{Intent, IntentState, Origin};
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;
use vanta_domain::wallet::{ChallengeState, SiweSite, WalletChallenge, parse_signature, recover_signer};

use crate::Deps;

/// How many of a user's latest challenges `/verify` looks through.
pub const CHALLENGES_SCANNED: usize = 5;
/// How many of a user's latest requests are checked for orders in flight before a rebind.
pub const INTENTS_SCANNED: usize = 50;

/// Why a proof step was refused: an HTTP status and a plain-text reason for the user (callers
/// escape it for HTML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

impl Refusal {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self { status, reason: reason.into() }
    }
}

impl From<DomainError> for Refusal {
    fn from(e: DomainError) -> Self {
        if e.is_retryable() {
            tracing::warn!(error = %e, "wallet proof step unavailable");
            return Refusal::new(503, "temporarily unavailable; nothing was changed, please try again");
        }
        let status = match &e {
            DomainError::NotFound(_) => 404,
            DomainError::Forbidden(_) => 403,
            DomainError::Conflict(_) => 409,
            _ => 422,
        };
        Refusal::new(status, e.to_string())
    }
}

/// The site the challenge names (`PUBLIC_BASE_URL`, or a placeholder).
pub fn site(deps: &Deps) -> SiweSite {
    SiweSite::from_base_url(deps.config.public_base_url.as_deref())
}

/// A fresh challenge nonce: 128 random bits as hex.
pub fn new_nonce() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

/// Whether an intent may still reach the venue: anything not final, except a Telegram request
/// whose confirmation window has passed (it can never be confirmed).
fn in_flight(i: &Intent, now: Timestamp) -> bool {
    match (i.state, &i.origin) {
        (s, _) if s.is_final() => false,
        (IntentState::Received, Origin::Telegram { .. }) => {
            now.since(i.created_at) <= i64::try_from(crate::telegram::CONFIRM_TTL.as_millis()).unwrap_or(i64::MAX)
        }
        _ => true,
    }
}

/// Why `user`'s current wallet cannot be replaced by `next` now, if it cannot: open positions
/// (they trade the old wallet) or orders still in flight.
pub async fn rebind_blocker(deps: &Deps, user: &User, next: TraderAddress) -> Result<Option<String>, DomainError> {
    let Some(current) = user.trader.filter(|c| *c != next) else { return Ok(None) };
    let live = deps.store.user_positions(user.id, true).await?;
    if !live.is_empty() {
        return Ok(Some(format!(
            "your wallet {current} still has {} open position(s); close them first (/positions), then bind the new wallet",
            live.len()
        )));
    }
    let now = deps.clock.now();
    let pending = deps.store.user_intents(user.id, INTENTS_SCANNED).await?.iter().filter(|i| in_flight(i, now)).count();
    if pending > 0 {
        return Ok(Some(format!(
            "your wallet {current} still has {pending} order(s) in flight; wait until they finish (/history), then bind the new wallet"
        )));
    }
    Ok(None)
}

/// `/bind`: a new challenge for `address`, stored as the user's pending binding.
pub async fn issue(deps: &Deps, user: &User, address: TraderAddress) -> Result<WalletChallenge, Refusal> {
    if let Some(claim) = deps.store.address_claim(address).await?
        && claim.owner != user.id
        && claim.verified
    {
        return Err(Refusal::new(409, "that wallet is already verified by another Vanta user"));
    }
    if let Some(why) = rebind_blocker(deps, user, address).await? {
        return Err(Refusal::new(409, why));
    }
    let c = WalletChallenge::new(&new_nonce(), user.id, address, &site(deps), deps.config.chain_id, deps.clock.now())?;
    deps.store.put_challenge(&c).await?;
    tracing::info!(user = %user.id, address = %address, "wallet challenge issued");
    Ok(c)
}

/// Whether `sig` proves that the challenge's address signed its message: recovery for an EOA,
/// EIP-1271 for a contract wallet (where RPC is configured).
pub async fn check_signature(deps: &Deps, c: &WalletChallenge, sig: &[u8]) -> Result<(), Refusal> {
    let wanted = c.address.address();
    let recovered = recover_signer(&c.message, sig);
    if recovered == Some(wanted) {
        return Ok(());
    }
    if let Some(wallets) = &deps.contract_wallets {
        match wallets.is_valid_signature(c.address, c.digest(), sig).await {
            Ok(Some(true)) => return Ok(()),
            Ok(Some(false)) => {
                return Err(Refusal::new(422, format!("the contract wallet {} did not accept this signature", c.address)));
            }
            Ok(None) => {} // an EOA: recovery decides
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "eip-1271 check unavailable");
                return Err(Refusal::new(503, "cannot reach the chain to ask a contract wallet; nothing was changed, try again"));
            }
            Err(e) => return Err(Refusal::new(422, e.to_string())),
        }
    }
    Err(match recovered {
        Some(other) => Refusal::new(
            422,
            format!(
                "this signature is by {}, not by {}: sign the message with the wallet you are binding",
                TraderAddress::new(other).map_or_else(|_| other.to_string(), |a| a.to_string()),
                c.address
            ),
        ),
        None => Refusal::new(422, "this is not a valid signature of the challenge (a 65-byte personal_sign signature is expected)"),
    })
}

/// Completes `c` for `user` with `sig`: the binding becomes verified, or nothing changes.
pub async fn complete(deps: &Deps, user: &User, c: &WalletChallenge, sig: &[u8]) -> Result<User, Refusal> {
    if c.user != user.id {
        return Err(Refusal::new(403, "this challenge was issued to another user"));
    }
    let now = deps.clock.now();
    closed_refusal(c, now)?;
    check_signature(deps, c, sig).await?;
    // Positions may have been opened since /bind: the old wallet is still not replaced then.
    let fresh = deps.store.get_user(user.id).await?.ok_or_else(|| Refusal::new(404, "unknown user"))?;
    if let Some(why) = rebind_blocker(deps, &fresh, c.address).await? {
        return Err(Refusal::new(409, why));
    }
    // An unverified binding of this address by someone else gives way; they are told.
    let displaced = deps.store.address_claim(c.address).await?.filter(|cl| cl.owner != user.id && !cl.verified).map(|cl| cl.owner);
    match deps.store.verify_binding(&c.nonce, user.id, now).await {
        Ok(u) => {
            tracing::info!(user = %user.id, address = %c.address, "wallet verified");
            crate::reconcile::watch_owner(deps, c.address, user.id).await; // trades opened outside Vanta are adopted
            // The user's own delegate key from the pool, kept from now on. Without it the user
            // signs with the main key, so a failure here does not undo the proof.
            let u = match crate::delegates::assign_at_bind(deps, &fresh, c.address).await {
                Ok(assigned) => assigned,
                Err(e) => {
                    tracing::warn!(user = %user.id, error = %e, "delegate key not recorded; the main key signs for now");
                    u
                }
            };
            if let Some(other) = displaced
                && let Ok(Some(o)) = deps.store.get_user(other).await
                && o.trader.is_none()
            {
                tracing::info!(user = %other, address = %c.address, "unverified binding given way to the proven owner");
                let text = format!(
                    "⚠️ The wallet <code>{}</code> is no longer bound to you: you had not proved it, and its owner just did. /bind your own wallet and sign the message to trade LIVE.",
                    c.address
                );
                crate::outbox::notify(deps, &o, deps.effective_exec().await.mode, &text).await;
            }
            Ok(u)
        }
        Err(DomainError::Conflict(why)) => {
            // Used or expired meanwhile (410), or the wallet was verified by someone else (409).
            if let Some(latest) = deps.store.get_challenge(&c.nonce).await? {
                closed_refusal(&latest, now)?;
            }
            Err(Refusal::new(
                409,
                if why.contains("another user") { "that wallet is already verified by another Vanta user".into() } else { why },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// 410 for a challenge that can no longer be completed.
fn closed_refusal(c: &WalletChallenge, now: Timestamp) -> Result<(), Refusal> {
    match c.state_at(now) {
        ChallengeState::Open => Ok(()),
        ChallengeState::Used => Err(Refusal::new(410, "this challenge was used already; each one works once (/bind again for a new one)")),
        ChallengeState::Expired => Err(Refusal::new(410, "this challenge has expired (they last 10 minutes); /bind again for a new one")),
    }
}

/// `/verify 0x<signature>`: finds which of the user's recent challenges the signature is for and
/// completes it.
pub async fn verify_pasted(deps: &Deps, user: &User, text: &str) -> Result<(User, WalletChallenge), Refusal> {
    let sig = parse_signature(text).map_err(|why| Refusal::new(400, why))?;
    let challenges = deps.store.user_challenges(user.id, CHALLENGES_SCANNED).await?;
    let Some(latest) = challenges.first() else {
        return Err(Refusal::new(404, "there is no challenge to sign: send /bind 0xYourWallet first"));
    };
    let now = deps.clock.now();
    // The challenge whose own address signed it (an EOA), whatever its state: an expired or used
    // one is refused as such.
    let matched = challenges.iter().find(|c| recover_signer(&c.message, &sig) == Some(c.address.address()));
    let target = match matched {
        Some(c) => c,
        // A contract wallet's signature, or a wrong key: judged against the newest open challenge.
        None => match challenges.iter().find(|c| c.state_at(now) == ChallengeState::Open) {
            Some(c) => c,
            None => {
                closed_refusal(latest, now)?;
                return Err(Refusal::new(410, "no open challenge; /bind again for a new one"));
            }
        },
    };
    let u = complete(deps, user, target, &sig).await?;
    Ok((u, target.clone()))
}

// ---------------------------------------------------------------------------------------------
// The signing page
// ---------------------------------------------------------------------------------------------

/// The page's script. It reads the message from the page (never from a URL), asks the injected
/// wallet for the account and a `personal_sign` over the message's UTF-8 bytes, and posts the
/// signature to the same path.
pub const LINK_SCRIPT: &str = r#"(function () {
  var msg = document.getElementById('msg').textContent;
  var want = document.getElementById('addr').textContent.toLowerCase();
  var status = document.getElementById('status');
  var button = document.getElementById('sign');
  function say(text, ok) { status.textContent = text; status.className = ok ? 'ok' : 'bad'; }
  function hex(s) {
    var bytes = new TextEncoder().encode(s), out = '0x';
    for (var i = 0; i < bytes.length; i++) { out += bytes[i].toString(16).padStart(2, '0'); }
    return out;
  }
  button.addEventListener('click', async function () {
    if (!window.ethereum || !window.ethereum.request) {
      say('No wallet found in this browser. Open this page in your wallet app, or sign the message elsewhere and send /verify with the signature to the bot.', false);
      return;
    }
    button.disabled = true;
    try {
      var accounts = await window.ethereum.request({ method: 'eth_requestAccounts' });
      var account = (accounts || []).find(function (a) { return String(a).toLowerCase() === want; });
      if (!account) { say('Your wallet did not offer ' + document.getElementById('addr').textContent + '. Switch to that account and try again.', false); button.disabled = false; return; }
      say('Waiting for your wallet to sign...', true);
      var signature = await window.ethereum.request({ method: 'personal_sign', params: [hex(msg), account] });
      var r = await fetch(window.location.pathname, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signature: signature }) });
      var body = await r.json().catch(function () { return {}; });
      if (r.ok) { say(body.message || 'Verified.', true); } else { say(body.error || ('Refused (' + r.status + ').'), false); button.disabled = false; }
    } catch (e) {
      say('Not signed: ' + (e && e.message ? e.message : e), false);
      button.disabled = false;
    }
  });
})();"#;

/// The page's style sheet.
pub const LINK_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#111}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f5;padding:1rem;border-radius:.5rem}\
button{font-size:1.1rem;padding:.6rem 1.2rem;border-radius:.5rem;border:0;background:#2563eb;color:#fff;cursor:pointer}\
button:disabled{background:#93a3b8}.ok{color:#166534}.bad{color:#b91c1c}.alt{color:#555;font-size:.9rem}";

/// `'sha256-…'` of an inline element's text, for the Content-Security-Policy.
pub fn csp_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())))
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk.first().copied().unwrap_or(0), chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'=')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The headers of every page: nothing loads from anywhere but this page and its own origin.
pub fn page_headers(with_script: bool) -> Vec<(String, String)> {
    let script = if with_script { format!("script-src {}; connect-src 'self'; ", csp_hash(LINK_SCRIPT)) } else { String::new() };
    let csp = format!(
        "default-src 'none'; {script}style-src {}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash(LINK_STYLE)
    );
    vec![
        ("content-type".into(), "text/html; charset=utf-8".into()),
        ("content-security-policy".into(), csp),
        ("x-content-type-options".into(), "nosniff".into()),
        ("referrer-policy".into(), "no-referrer".into()),
        ("x-frame-options".into(), "DENY".into()),
        ("cache-control".into(), "no-store".into()),
    ]
}

fn page(title: &str, body: &str, with_script: bool) -> String {
    let script = if with_script { format!("<script>{LINK_SCRIPT}</script>") } else { String::new() };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{LINK_STYLE}</style></head><body><main>{body}</main>{script}</body></html>",
        title = html(title),
    )
}

/// Escapes text for HTML, quotes included.
pub fn html(s: &str) -> String {
    crate::outbox::html_escape(s).replace('"', "&quot;").replace('\'', "&#39;")
}

/// The page that signs challenge `c`.
pub fn signing_page(c: &WalletChallenge) -> String {
    let body = format!(
        "<h1>Verify your wallet for Vanta</h1>\
         <p>Telegram user <b>{user}</b> asked to link the wallet <code id=\"addr\">{address}</code> to Vanta. Sign the message below with that wallet. Signing is free: it sends no transaction and moves no funds.</p>\
         <pre id=\"msg\">{message}</pre>\
         <p><button id=\"sign\" type=\"button\">Sign with wallet</button></p>\
         <p id=\"status\" role=\"status\"></p>\
         <p class=\"alt\">This request expires at {expires} and works once. No wallet in this browser? Sign the message with personal_sign elsewhere and send <code>/verify 0x…</code> with the signature to the bot.</p>",
        user = c.user,
        address = html(&c.address.to_string()),
        message = html(&c.message),
        expires = html(&vanta_domain::wallet::rfc3339(c.expires_at)),
    );
    page("Vanta · verify your wallet", &body, true)
}

/// A page that only explains why there is nothing to sign.
pub fn notice_page(title: &str, reason: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1><p>{}</p><p class=\"alt\">Send /bind 0xYourWallet to the bot for a new signing link.</p>",
            html(title),
            html(reason)
        ),
        false,
    )
}

/// Largest body of `POST /link/{nonce}` (a signature is a few hundred bytes).
pub const MAX_LINK_BODY: usize = 8 * 1024;
/// Signature attempts per challenge per minute.
pub const LINK_RATE_PER_MIN: u32 = 10;

fn html_response(status: u16, body: String, with_script: bool) -> axum::response::Response {
    crate::web::with_headers(status, &page_headers(with_script), body)
}

/// The challenge of a path's nonce, or the page or reply that says why there is none.
async fn open_challenge(deps: &Deps, nonce: &str) -> Result<WalletChallenge, Refusal> {
    if !vanta_domain::wallet::valid_nonce(nonce) {
        return Err(Refusal::new(404, "this signing link is not valid"));
    }
    let c = deps.store.get_challenge(nonce).await?.ok_or_else(|| Refusal::new(404, "this signing link is not valid (unknown request)"))?;
    closed_refusal(&c, deps.clock.now())?;
    Ok(c)
}

/// `GET /link/{nonce}`: the signing page, or a 404/410 page with the reason.
pub async fn link_get(deps: &Deps, nonce: &str) -> axum::response::Response {
    match open_challenge(deps, nonce).await {
        Ok(c) => html_response(200, signing_page(&c), true),
        Err(r) => {
            let title = match r.status {
                404 => "Unknown signing link",
                410 => "This signing link has expired or was used",
                _ => "Try again later",
            };
            html_response(r.status, notice_page(title, &r.reason), false)
        }
    }
}

/// `POST /link/{nonce}` with `{"signature":"0x…"}`: verifies exactly as `/verify` does and tells
/// the user on Telegram. JSON replies: 200 verified, 400 unreadable, 403/404/409/410/422 refused
/// (with the reason), 413 too large (over [`MAX_LINK_BODY`], the route's body cap), 429 too many
/// attempts, 503 try again.
pub async fn link_post(deps: &Deps, body: &[u8], nonce: &str) -> axum::response::Response {
    use crate::web::{error, json};
    match post_signature(deps, body, nonce).await {
        Ok((user, c)) => {
            let text =
                format!("Wallet {} verified for Telegram user {}. You can close this page and return to Telegram.", c.address, user.id);
            let mode = deps.effective_exec().await.mode;
            crate::outbox::notify(deps, &user, mode, &verified_html(deps, &user, &c.address)).await;
            json(200, &serde_json::json!({ "status": "verified", "address": c.address, "message": text }))
        }
        Err(r) => error(r.status, r.reason),
    }
}

async fn post_signature(deps: &Deps, body: &[u8], nonce: &str) -> Result<(User, WalletChallenge), Refusal> {
    let c = open_challenge(deps, nonce).await?;
    let now = deps.clock.now();
    let end = Timestamp((now.millis().div_euclid(60_000) + 1) * 60_000);
    if !deps.store.hit_window(&format!("rate:link:{nonce}:{}", end.millis()), now, end, LINK_RATE_PER_MIN).await? {
        return Err(Refusal::new(429, format!("more than {LINK_RATE_PER_MIN} attempts a minute for this link; wait a minute")));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        signature: String,
    }
    let body: Body = serde_json::from_slice(body).map_err(|_| Refusal::new(400, "expected a JSON body {\"signature\": \"0x…\"}"))?;
    let sig = parse_signature(&body.signature).map_err(|why| Refusal::new(400, why))?;
    let user = deps.store.get_user(c.user).await?.ok_or_else(|| Refusal::new(404, "unknown user"))?;
    let u = complete(deps, &user, &c, &sig).await?;
    Ok((u, c))
}

/// Veranta's delegate ("API key") page, where a trader registers Vanta's delegate.
pub const DELEGATE_UI_URL: &str = vanta_runtime::config::VERANTA_DELEGATE_UI_URL;

/// What a user is told once their wallet is verified (HTML, for Telegram): next, the delegate.
pub fn verified_html(deps: &Deps, user: &User, address: &TraderAddress) -> String {
    let delegate = match crate::delegates::address_for(deps, user) {
        Some(d) => format!("register Vanta's delegate <code>{d}</code> with Veranta at {DELEGATE_UI_URL}"),
        None => format!("register Vanta's delegate with Veranta at {DELEGATE_UI_URL} (its address is in /wallet)"),
    };
    format!(
        "✅ Wallet <code>{address}</code> verified: you proved you own it. Next, {delegate}; a delegate can open and close trades for you but never withdraw, and you can revoke it any time. /wallet shows the delegation."
    )
}
