//! A small fake AWS KMS for secp256k1 signing keys, speaking the KMS JSON 1.1 protocol
//! (`POST /`, `X-Amz-Target: TrentService.<Op>`, `application/x-amz-json-1.1`).
//!
//! Stock moto re-hashes `MessageType=DIGEST` messages, so signatures from it never recover with
//! alloy's `AwsSigner`. This fake signs the 32 given bytes as-is, like real KMS.
//!
//! Operations: `CreateKey` (ECC_SECG_P256K1 / SIGN_VERIFY only), `DescribeKey`, `GetPublicKey`,
//! `Sign` (ECDSA_SHA_256, DIGEST or RAW) and `CreateAlias`. Test switches: high-s signatures,
//! one-shot injected errors, disabled keys, and a log of every request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use k256::ecdsa::signature::hazmat::PrehashSigner;
use k256::ecdsa::{Signature, SigningKey};
use k256::pkcs8::EncodePublicKey;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::Server;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const KEY_SPEC: &str = "ECC_SECG_P256K1";
const KEY_USAGE: &str = "SIGN_VERIFY";
const ALGORITHM: &str = "ECDSA_SHA_256";
const TARGET_PREFIX: &str = "TrentService.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Real KMS limit for `MessageType=RAW`.
const MAX_RAW_MESSAGE: usize = 4096;

/// One request as the fake saw it, with the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsRequest {
    /// The operation from `X-Amz-Target`, without the `TrentService.` prefix.
    pub operation: String,
    pub content_type: Option<String>,
    pub key_id: Option<String>,
    pub message_type: Option<String>,
    pub signing_algorithm: Option<String>,
    /// The decoded `Message` of a `Sign` call.
    pub message: Option<Vec<u8>>,
    pub status: u16,
    /// The `__type` of the error answered, if any.
    pub error: Option<String>,
}

struct FakeKey {
    signing: SigningKey,
    enabled: bool,
    created: u64,
}

struct InjectedError {
    operation: String,
    code: String,
    status: u16,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, FakeKey>,
    aliases: HashMap<String, String>,
    high_s: bool,
    injected: VecDeque<InjectedError>,
    log: Vec<KmsRequest>,
}

/// A running fake KMS on a loopback port; stopped on drop.
pub struct FakeKms {
    /// `http://127.0.0.1:<port>`, for the SDK's `endpoint_url`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    _server: Server,
}

impl FakeKms {
    /// Binds a free loopback port and serves until dropped. Needs a Tokio runtime.
    pub async fn start() -> Result<Self, String> {
        let state = Arc::new(Mutex::new(State::default()));
        let served = Arc::clone(&state);
        let server = Server::start("fake KMS", move |req| handle(Arc::clone(&served), req))
            .await
            .map_err(|e| format!("fake KMS cannot bind: {e}"))?;
        Ok(Self { endpoint: server.url(), state, _server: server })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Creates a key with a random private key; returns its key id.
    pub fn create_key(&self) -> String {
        insert_key(&mut self.state(), random_signing_key())
    }

    /// Creates a key from a given 32-byte private key (deterministic tests); returns its key id.
    pub fn import_key(&self, private_key: &[u8; 32]) -> Result<String, String> {
        let signing = SigningKey::from_slice(private_key).map_err(|_| "not a valid secp256k1 private key".to_string())?;
        Ok(insert_key(&mut self.state(), signing))
    }

    /// Points `alias/<name>` (the `alias/` prefix optional) at a key, replacing any target.
    pub fn set_alias(&self, alias: &str, key_id: &str) -> Result<(), String> {
        let mut st = self.state();
        let id = resolve(&st, key_id).ok_or_else(|| format!("no key {key_id}"))?;
        st.aliases.insert(alias_name(alias), id);
        Ok(())
    }

    /// The key's ARN.
    pub fn key_arn(&self, key_id: &str) -> String {
        key_arn(key_id)
    }

    /// The key's public key, SEC1 uncompressed (65 bytes, `0x04 || x || y`).
    pub fn public_key_sec1(&self, key_id: &str) -> Option<Vec<u8>> {
        let st = self.state();
        let id = resolve(&st, key_id)?;
        let key = st.keys.get(&id)?;
        Some(key.signing.verifying_key().to_encoded_point(false).as_bytes().to_vec())
    }

    /// When on, `Sign` answers the high-s twin (s' = n - s) of each signature.
    pub fn set_high_s(&self, on: bool) {
        self.state().high_s = on;
    }

    /// Enables or disables a key; `Sign` and `GetPublicKey` on a disabled key give `DisabledException`.
    pub fn set_key_enabled(&self, key_id: &str, enabled: bool) -> Result<(), String> {
        let mut st = self.state();
        let id = resolve(&st, key_id).ok_or_else(|| format!("no key {key_id}"))?;
        if let Some(k) = st.keys.get_mut(&id) {
            k.enabled = enabled;
        }
        Ok(())
    }

    /// The next call of `operation` (e.g. `"Sign"`) answers the error `code` with `status`, once.
    /// Injected errors queue up in order.
    pub fn fail_next(&self, operation: &str, code: &str, status: u16) {
        self.state().injected.push_back(InjectedError { operation: operation.into(), code: code.into(), status });
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<KmsRequest> {
        self.state().log.clone()
    }

    /// The requests of one operation, oldest first.
    pub fn requests_of(&self, operation: &str) -> Vec<KmsRequest> {
        self.state().log.iter().filter(|r| r.operation == operation).cloned().collect()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_signing_key() -> SigningKey {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        // Fails only for zero or >= n: astronomically rare, so just draw again.
        if let Ok(k) = SigningKey::from_slice(&bytes) {
            return k;
        }
    }
}

fn insert_key(st: &mut State, signing: SigningKey) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    st.keys.insert(id.clone(), FakeKey { signing, enabled: true, created });
    id
}

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

fn alias_name(alias: &str) -> String {
    if alias.starts_with("alias/") { alias.to_string() } else { format!("alias/{alias}") }
}

/// A key id, key ARN, alias name or alias ARN, to the key id (if the key exists).
fn resolve(st: &State, key_ref: &str) -> Option<String> {
    let key_ref = key_ref.trim();
    let local = match key_ref.strip_prefix("arn:aws:kms:") {
        Some(rest) => rest.splitn(3, ':').nth(2)?.to_string(),
        None => key_ref.to_string(),
    };
    let id = match local.strip_prefix("key/") {
        Some(id) => id.to_string(),
        None if local.starts_with("alias/") => st.aliases.get(&local)?.clone(),
        None => local,
    };
    st.keys.contains_key(&id).then_some(id)
}

/// A KMS error: `__type` + `message`.
struct KmsError {
    status: u16,
    code: String,
    message: String,
}

impl KmsError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into() }
    }
    fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message)
    }
    fn not_found(key_ref: &str) -> Self {
        Self::new(400, "NotFoundException", format!("Key '{key_ref}' does not exist"))
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let operation = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.strip_prefix(TARGET_PREFIX).unwrap_or(t).to_string())
        .unwrap_or_default();
    let content_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let is_post = req.method() == Method::POST;
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return reply(400, &error_body("SerializationException", &format!("cannot read the body: {e}"))),
    };
    let input: Value = if body.is_empty() { json!({}) } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    let field = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);

    let mut entry = KmsRequest {
        operation: operation.clone(),
        content_type,
        key_id: field("KeyId"),
        message_type: field("MessageType"),
        signing_algorithm: field("SigningAlgorithm"),
        message: field("Message").and_then(|m| B64.decode(m).ok()),
        status: 200,
        error: None,
    };

    let mut st = lock(&state);
    let result = if !is_post {
        Err(KmsError::new(405, "UnknownOperationException", "only POST / is served"))
    } else if !input.is_object() {
        Err(KmsError::new(400, "SerializationException", "the body is not a JSON object"))
    } else if let Some(pos) = st.injected.iter().position(|e| e.operation == operation) {
        match st.injected.remove(pos) {
            Some(e) => Err(KmsError::new(e.status, &e.code, "injected by the test")),
            None => Err(KmsError::new(500, "KMSInternalException", "injected error vanished")),
        }
    } else {
        dispatch(&mut st, &operation, &input)
    };
    let response = match result {
        Ok(out) => reply(200, &out),
        Err(e) => {
            entry.status = e.status;
            entry.error = Some(e.code.clone());
            reply(e.status, &error_body(&e.code, &e.message))
        }
    };
    st.log.push(entry);
    response
}

fn dispatch(st: &mut State, operation: &str, input: &Value) -> Result<Value, KmsError> {
    match operation {
        "CreateKey" => create_key(st, input),
        "DescribeKey" => describe_key(st, input),
        "GetPublicKey" => get_public_key(st, input),
        "Sign" => sign(st, input),
        "CreateAlias" => create_alias(st, input),
        other => Err(KmsError::new(400, "UnknownOperationException", format!("the fake KMS does not serve '{other}'"))),
    }
}

fn str_field<'a>(input: &'a Value, name: &str) -> Option<&'a str> {
    input.get(name).and_then(Value::as_str)
}

fn required<'a>(input: &'a Value, name: &str) -> Result<&'a str, KmsError> {
    str_field(input, name).ok_or_else(|| {
        KmsError::validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// The key a request names, which must exist and be enabled.
fn usable_key<'a>(st: &'a State, input: &Value) -> Result<(String, &'a FakeKey), KmsError> {
    let key_ref = required(input, "KeyId")?;
    let id = resolve(st, key_ref).ok_or_else(|| KmsError::not_found(key_ref))?;
    let key = st.keys.get(&id).ok_or_else(|| KmsError::not_found(key_ref))?;
    if !key.enabled {
        return Err(KmsError::new(400, "DisabledException", format!("{} is disabled.", key_arn(&id))));
    }
    Ok((id, key))
}

fn metadata(id: &str, key: &FakeKey) -> Value {
    json!({
        "AWSAccountId": ACCOUNT,
        "KeyId": id,
        "Arn": key_arn(id),
        "CreationDate": key.created,
        "Enabled": key.enabled,
        "Description": "",
        "KeyUsage": KEY_USAGE,
        "KeyState": if key.enabled { "Enabled" } else { "Disabled" },
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": KEY_SPEC,
        "KeySpec": KEY_SPEC,
        "SigningAlgorithms": [ALGORITHM],
        "MultiRegion": false,
    })
}

fn create_key(st: &mut State, input: &Value) -> Result<Value, KmsError> {
    let spec = str_field(input, "KeySpec").or_else(|| str_field(input, "CustomerMasterKeySpec")).unwrap_or("SYMMETRIC_DEFAULT");
    if spec != KEY_SPEC {
        return Err(KmsError::new(400, "UnsupportedOperationException", format!("the fake KMS only creates {KEY_SPEC} keys, not {spec}")));
    }
    let usage = str_field(input, "KeyUsage").unwrap_or("ENCRYPT_DECRYPT");
    if usage != KEY_USAGE {
        return Err(KmsError::validation(format!("KeyUsage {usage} is not compatible with KeySpec {KEY_SPEC}")));
    }
    let id = insert_key(st, random_signing_key());
    let key = st.keys.get(&id).ok_or_else(|| KmsError::new(500, "KMSInternalException", "key vanished"))?;
    Ok(json!({ "KeyMetadata": metadata(&id, key) }))
}

fn describe_key(st: &State, input: &Value) -> Result<Value, KmsError> {
    let key_ref = required(input, "KeyId")?;
    let id = resolve(st, key_ref).ok_or_else(|| KmsError::not_found(key_ref))?;
    let key = st.keys.get(&id).ok_or_else(|| KmsError::not_found(key_ref))?;
    Ok(json!({ "KeyMetadata": metadata(&id, key) }))
}

fn get_public_key(st: &State, input: &Value) -> Result<Value, KmsError> {
    let (id, key) = usable_key(st, input)?;
    let der = k256::PublicKey::from(key.signing.verifying_key())
        .to_public_key_der()
        .map_err(|e| KmsError::new(500, "KMSInternalException", format!("cannot encode the public key: {e}")))?;
    Ok(json!({
        "KeyId": key_arn(&id),
        "PublicKey": B64.encode(der.as_bytes()),
        "CustomerMasterKeySpec": KEY_SPEC,
        "KeySpec": KEY_SPEC,
        "KeyUsage": KEY_USAGE,
        "SigningAlgorithms": [ALGORITHM],
    }))
}

fn sign(st: &State, input: &Value) -> Result<Value, KmsError> {
    let (id, key) = usable_key(st, input)?;
    let algorithm = required(input, "SigningAlgorithm")?;
    if algorithm != ALGORITHM {
        return Err(KmsError::new(400, "InvalidKeyUsageException", format!("{algorithm} is not valid for this key; use {ALGORITHM}")));
    }
    let message =
        B64.decode(required(input, "Message")?).map_err(|_| KmsError::new(400, "SerializationException", "Message is not valid base64"))?;
    let digest: [u8; 32] = match str_field(input, "MessageType").unwrap_or("RAW") {
        "DIGEST" => message
            .as_slice()
            .try_into()
            .map_err(|_| KmsError::validation(format!("Digest is invalid length for algorithm {ALGORITHM}.")))?,
        "RAW" => {
            if message.is_empty() || message.len() > MAX_RAW_MESSAGE {
                return Err(KmsError::validation(format!("Message must be 1 to {MAX_RAW_MESSAGE} bytes")));
            }
            Sha256::digest(&message).into()
        }
        other => return Err(KmsError::validation(format!("MessageType {other} is not RAW or DIGEST"))),
    };
    let sig: Signature =
        key.signing.sign_prehash(&digest).map_err(|e| KmsError::new(500, "KMSInternalException", format!("signing failed: {e}")))?;
    let sig = if st.high_s { high_s(&sig)? } else { sig };
    Ok(json!({
        "KeyId": key_arn(&id),
        "Signature": B64.encode(sig.to_der().as_bytes()),
        "SigningAlgorithm": ALGORITHM,
    }))
}

/// The twin (r, n - s) of a signature, equally valid for plain ECDSA. k256 signs low-s, so the
/// twin is high-s.
fn high_s(sig: &Signature) -> Result<Signature, KmsError> {
    Signature::from_scalars(sig.r().to_bytes(), (-*sig.s()).to_bytes())
        .map_err(|_| KmsError::new(500, "KMSInternalException", "cannot flip s"))
}

fn create_alias(st: &mut State, input: &Value) -> Result<Value, KmsError> {
    let alias = required(input, "AliasName")?;
    if !alias.starts_with("alias/") || alias.starts_with("alias/aws/") {
        return Err(KmsError::validation(format!("invalid alias name {alias}")));
    }
    let target = required(input, "TargetKeyId")?;
    let id = resolve(st, target).ok_or_else(|| KmsError::not_found(target))?;
    if st.aliases.contains_key(alias) {
        return Err(KmsError::new(400, "AlreadyExistsException", format!("An alias with the name {alias} already exists")));
    }
    st.aliases.insert(alias.to_string(), id);
    Ok(json!({}))
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "__type": code, "message": message })
}

fn reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(CONTENT_TYPE) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}
