//! The bot's Telegram registration: the token and the webhook secret are read from SSM the way
//! the telegram function reads them at cold start, and are never printed.

use std::fmt::Write as _;
use std::time::Duration;

use aws_config::SdkConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use vanta_runtime::Config;

use crate::settings::Settings;

/// The config with the bot's secrets opened (from SSM when their parameter names are known,
/// else from `TELEGRAM_BOT_TOKEN` / `TELEGRAM_WEBHOOK_SECRET`), and the token.
pub async fn bot_config(s: &Settings, sdk: &SdkConfig) -> Result<(Config, SecretString), String> {
    let names = vanta_lambda::secrets::SecretNames::from_lookup(|k| s.get(k).map(str::to_owned));
    let names = vanta_lambda::secrets::SecretNames { base_rpc_url: None, ..names };
    let config = if names.is_empty() {
        s.config.clone()
    } else {
        vanta_lambda::secrets::open(s.config.clone(), &aws_sdk_ssm::Client::new(sdk), &names).await.map_err(|e| e.chain())?
    };
    let token = config.telegram_bot_token.clone().ok_or("no bot token (TELEGRAM_BOT_TOKEN_PARAM)")?;
    if config.telegram_webhook_secret.is_none() {
        return Err("no webhook secret (TELEGRAM_WEBHOOK_SECRET_PARAM): the bot would refuse every update".into());
    }
    Ok((config, token))
}

/// Calls a Bot API method with a JSON body and returns its `result`. Errors never show the URL
/// (it holds the token).
pub async fn call(config: &Config, token: &SecretString, method: &str, body: &Value) -> Result<Value, String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| format!("http client: {e}"))?;
    let url = format!("{}/bot{}/{method}", config.telegram_api_url, token.expose_secret());
    let resp = http.post(url).json(body).send().await.map_err(|e| format!("{method}: {}", e.without_url()))?;
    let v: Value = resp.json().await.map_err(|e| format!("{method}: unreadable answer ({})", e.without_url()))?;
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    } else {
        Err(format!("{method} refused: {}", v.get("description").and_then(Value::as_str).unwrap_or("?")))
    }
}

/// Registers the webhook at `TELEGRAM_WEBHOOK_URL` with the secret token and the update types the
/// bot handles.
pub async fn set_webhook(s: &Settings, sdk: &SdkConfig, drop_pending: bool, out: &mut String) -> Result<(), String> {
    let url = s.require("TELEGRAM_WEBHOOK_URL")?.to_owned();
    let (config, token) = bot_config(s, sdk).await?;
    let secret = config.telegram_webhook_secret.clone().ok_or("no webhook secret")?;
    let body = serde_json::json!({
        "url": url,
        "secret_token": secret.expose_secret(),
        "allowed_updates": crate::preflight::BOT_UPDATES,
        "drop_pending_updates": drop_pending,
    });
    call(&config, &token, "setWebhook", &body).await?;
    let _ = writeln!(out, "webhook registered at {url} with the secret from SSM for {}", crate::preflight::BOT_UPDATES.join(", "));
    Ok(())
}
