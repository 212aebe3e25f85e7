//! Secrets from SSM Parameter Store, read once per cold start.
//!
//! Under Lambda the environment carries only the NAMES of SecureString parameters
//! (`TELEGRAM_BOT_TOKEN_PARAM`, `TELEGRAM_WEBHOOK_SECRET_PARAM`, `BASE_RPC_URL_PARAM`); their
//! values never appear in an environment variable, a template output or a log. A function whose
//! environment names a parameter fails its cold start when the parameter cannot be read: the
//! error names the parameter and the reason, never a value. Without a `*_PARAM` name the plain
//! variable (`TELEGRAM_BOT_TOKEN`, …) is used as before: the local runner and tests only.

use secrecy::SecretString;
use vanta_runtime::Config;

use crate::StartError;

/// The environment variable that names the bot token's parameter.
pub const BOT_TOKEN_PARAM: &str = "TELEGRAM_BOT_TOKEN_PARAM";
/// The environment variable that names the webhook secret's parameter.
pub const WEBHOOK_SECRET_PARAM: &str = "TELEGRAM_WEBHOOK_SECRET_PARAM";
/// The environment variable that names the (keyed) Base RPC URL's parameter.
pub const RPC_URL_PARAM: &str = "BASE_RPC_URL_PARAM";

/// Which secrets this function reads from SSM, by parameter name (names are not secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretNames {
    pub telegram_bot_token: Option<String>,
    pub telegram_webhook_secret: Option<String>,
    pub base_rpc_url: Option<String>,
}

impl SecretNames {
    /// Reads the `*_PARAM` variables of the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the `*_PARAM` settings through `get` (empty = not set).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let name = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Self {
            telegram_bot_token: name(BOT_TOKEN_PARAM),
            telegram_webhook_secret: name(WEBHOOK_SECRET_PARAM),
            base_rpc_url: name(RPC_URL_PARAM),
        }
    }

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// The `*_PARAM` variables that are set, by variable name (never a value).
    pub fn describe(&self) -> String {
        let set = [
            (BOT_TOKEN_PARAM, &self.telegram_bot_token),
            (WEBHOOK_SECRET_PARAM, &self.telegram_webhook_secret),
            (RPC_URL_PARAM, &self.base_rpc_url),
        ];
        set.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
    }
}

/// Fills `config`'s secrets from the parameters `names` lists (each read once, decrypted); a
/// parameter that is missing, unreadable or malformed fails the cold start.
pub async fn open(mut config: Config, ssm: &aws_sdk_ssm::Client, names: &SecretNames) -> Result<Config, StartError> {
    if let Some(name) = &names.telegram_bot_token {
        let token = read(ssm, BOT_TOKEN_PARAM, name).await?;
        if !valid_bot_token(&token) {
            return Err(malformed(BOT_TOKEN_PARAM, name, "does not hold a bot token (<digits>:<secret>)"));
        }
        config.telegram_bot_token = Some(SecretString::from(token));
    }
    if let Some(name) = &names.telegram_webhook_secret {
        let secret = read(ssm, WEBHOOK_SECRET_PARAM, name).await?;
        if !valid_webhook_secret(&secret) {
            return Err(malformed(WEBHOOK_SECRET_PARAM, name, "must hold 1-256 characters of A-Z, a-z, 0-9, _ and -"));
        }
        config.telegram_webhook_secret = Some(SecretString::from(secret));
    }
    if let Some(name) = &names.base_rpc_url {
        let url = read(ssm, RPC_URL_PARAM, name).await?;
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.chars().any(char::is_whitespace) {
            return Err(malformed(RPC_URL_PARAM, name, "does not hold an http(s) URL"));
        }
        config.base_rpc_url = url.trim_end_matches('/').to_owned();
    }
    Ok(config)
}

/// One `GetParameter` with decryption, bounded in time. Errors name the setting, the parameter
/// and the service's error code only.
pub(crate) async fn read(ssm: &aws_sdk_ssm::Client, setting: &'static str, name: &str) -> Result<String, StartError> {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    let call = ssm.get_parameter().name(name).with_decryption(true).send();
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .map_err(|source| StartError::SecretTimeout { setting, name: name.to_owned(), source })?
        .map_err(|e| {
            let code = e.code().map_or_else(|| "the service could not be reached".to_owned(), str::to_owned);
            StartError::SecretUnreadable { setting, name: name.to_owned(), code, source: Box::new(e) }
        })?;
    let value = out.parameter.and_then(|p| p.value).map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(StartError::SecretEmpty { setting, name: name.to_owned() });
    }
    Ok(value)
}

fn malformed(setting: &'static str, name: &str, expected: &'static str) -> StartError {
    StartError::SecretMalformed { setting, name: name.to_owned(), expected }
}

/// `<digits>:<secret>`, the shape BotFather issues.
fn valid_bot_token(t: &str) -> bool {
    match t.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }
        None => false,
    }
}

/// Telegram's `secret_token` alphabet (the same rule as `TELEGRAM_WEBHOOK_SECRET`).
fn valid_webhook_secret(s: &str) -> bool {
    (1..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_come_from_the_param_variables_only() {
        let env = |k: &str| match k {
            BOT_TOKEN_PARAM => Some("/vanta/s/telegram-bot-token".to_owned()),
            RPC_URL_PARAM => Some("  ".to_owned()),
            "TELEGRAM_BOT_TOKEN" => Some("1:plain".to_owned()),
            _ => None,
        };
        let n = SecretNames::from_lookup(env);
        assert_eq!(n.telegram_bot_token.as_deref(), Some("/vanta/s/telegram-bot-token"));
        assert_eq!(n.base_rpc_url, None, "blank is unset");
        assert_eq!(n.telegram_webhook_secret, None);
        assert!(!n.is_empty());
        assert!(SecretNames::from_lookup(|_| None).is_empty());
        assert_eq!(n.describe(), BOT_TOKEN_PARAM, "the variable's name, never the parameter or a value");
        let two = SecretNames::from_lookup(|k| (k != WEBHOOK_SECRET_PARAM).then(|| "/p".to_owned()));
        assert_eq!(two.describe(), format!("{BOT_TOKEN_PARAM}, {RPC_URL_PARAM}"));
    }

    #[test]
    fn value_shapes() {
        assert!(valid_bot_token("123456:AAE-x_y"));
        assert!(!valid_bot_token("123456"));
        assert!(!valid_bot_token("abc:def"));
        assert!(!valid_bot_token("1: spaced"));
        assert!(valid_webhook_secret("hook_secret-1"));
        assert!(!valid_webhook_secret("has space"));
        assert!(!valid_webhook_secret(""));
    }
}
