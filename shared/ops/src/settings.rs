//! What the CLI acts on: a stack's outputs and parameters (`--stack`, CloudFormation
//! `DescribeStacks`) and the operator's environment, read into the same [`Config`] the functions
//! build at cold start.
//!
//! With `--stack`, the stack's values win over the environment; the environment fills what the
//! stack does not say (and is all there is without `--stack`: tests, or a stack of another shape).

use std::collections::BTreeMap;

use aws_config::{BehaviorVersion, SdkConfig};
use vanta_runtime::Config;

/// Stack outputs, by the environment name the CLI reads them under.
pub const OUTPUTS: &[(&str, &str)] = &[
    ("TableName", "TABLE_NAME"),
    ("SignalsQueueUrl", "SIGNALS_QUEUE_URL"),
    ("SignalsDeadLetterQueueUrl", "SIGNALS_DLQ_URL"),
    ("NotificationsQueueUrl", "NOTIFICATIONS_QUEUE_URL"),
    ("NotificationsDeadLetterQueueUrl", "NOTIFICATIONS_DLQ_URL"),
    ("AlarmTopicArn", "ALARM_TOPIC_ARN"),
    ("TelegramWebhookUrl", "TELEGRAM_WEBHOOK_URL"),
    ("SignerKeyId", "KMS_KEY_ID"),
];

/// Stack parameters, by the environment name the functions read them under.
pub const PARAMETERS: &[(&str, &str)] = &[
    ("ExecutionMode", "COPY_EXECUTION_MODE"),
    ("EmergencyStop", "EMERGENCY_STOP"),
    ("AdminUserIds", "ADMIN_USER_IDS"),
    ("SuperAdminIds", "SUPER_ADMIN_IDS"),
    ("SignerPoolKeyArns", "KMS_POOL_KEY_ARNS"),
    ("TelegramBotTokenParameter", "TELEGRAM_BOT_TOKEN_PARAM"),
    ("TelegramWebhookSecretParameter", "TELEGRAM_WEBHOOK_SECRET_PARAM"),
    ("VerantaNetwork", "VERANTA_NETWORK"),
    ("VerantaApiBaseUrl", "VERANTA_API_BASE_URL"),
    ("VerantaTxBuilderUrl", "VERANTA_TX_BUILDER_URL"),
    ("VerantaBatchedMarketUrl", "VERANTA_BATCHED_MARKET_URL"),
    ("VerantaCoreApiUrl", "VERANTA_CORE_API_URL"),
    ("VerantaDataApiUrl", "VERANTA_DATA_API_URL"),
    ("PythHermesUrl", "PYTH_HERMES_URL"),
];

/// Everything the commands need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The stack name (`--stack` or `VANTA_STACK`), when known: names the default SSM parameters.
    pub stack: Option<String>,
    pub config: Config,
    /// Every setting as read (stack first, then the environment). Not secret: secrets are SSM
    /// parameter names here, their values are read only where needed.
    pub values: BTreeMap<String, String>,
}

impl Settings {
    /// Reads the settings from `stack` (already fetched into `from_stack`) and `env`.
    pub fn resolve(
        stack: Option<String>,
        from_stack: BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let stack = stack.or_else(|| env("VANTA_STACK")).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        let get = |k: &str| -> Option<String> {
            from_stack.get(k).cloned().filter(|v| !v.trim().is_empty()).or_else(|| env(k)).filter(|v| !v.trim().is_empty())
        };
        for (_, name) in OUTPUTS.iter().chain(PARAMETERS) {
            if let Some(v) = get(name) {
                values.insert((*name).to_owned(), v);
            }
        }
        // The template's defaults for the secret parameters' names.
        if let Some(s) = &stack {
            values.entry("TELEGRAM_BOT_TOKEN_PARAM".into()).or_insert_with(|| format!("/vanta/{s}/telegram-bot-token"));
            values.entry("TELEGRAM_WEBHOOK_SECRET_PARAM".into()).or_insert_with(|| format!("/vanta/{s}/telegram-webhook-secret"));
        }
        let lookup = |k: &str| values.get(k).cloned().or_else(|| env(k));
        let config = Config::from_lookup(lookup).map_err(|e| e.to_string())?;
        for k in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KMS",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "VANTA_ALARM_PREFIX",
            "VANTA_PINNED_ADDRESSES",
        ] {
            if let Some(v) = env(k).filter(|v| !v.trim().is_empty()) {
                values.entry(k.to_owned()).or_insert(v);
            }
        }
        Ok(Self { stack, config, values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A setting a command cannot do without; the error says where it comes from.
    pub fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| {
            let output = OUTPUTS.iter().find(|(_, n)| *n == name).map(|(o, _)| format!(" (stack output {o})")).unwrap_or_default();
            format!("{name} is not set: pass --stack <name>{output} or set {name}")
        })
    }
}

/// The AWS SDK configuration: the operator's credentials chain, with `AWS_ENDPOINT_URL`,
/// `AWS_REGION` and static test credentials taken from `env` when it gives them.
pub async fn sdk_config(env: &dyn Fn(&str) -> Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = env("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()) {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = env("AWS_REGION").filter(|v| !v.is_empty()) {
        loader = loader.region(aws_config::Region::new(region));
    }
    // Keys given as settings (tests; or the operator's own, with their session token).
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            id,
            secret,
            env("AWS_SESSION_TOKEN"),
            None,
            "vanta-ops",
        ));
    }
    loader.load().await
}

/// A stack's outputs and parameters, under the environment names of [`OUTPUTS`] and
/// [`PARAMETERS`].
pub async fn read_stack(sdk: &SdkConfig, stack: &str) -> Result<BTreeMap<String, String>, String> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let out = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| format!("cannot read stack {stack}: {}", aws_sdk_cloudformation::error::DisplayErrorContext(&e)))?;
    let s = out.stacks().first().ok_or_else(|| format!("stack {stack} not found"))?;
    let mut values = BTreeMap::new();
    for o in s.outputs() {
        if let (Some(k), Some(v)) = (o.output_key(), o.output_value())
            && let Some((_, name)) = OUTPUTS.iter().find(|(key, _)| *key == k)
        {
            values.insert((*name).to_owned(), v.to_owned());
        }
    }
    for p in s.parameters() {
        if let (Some(k), Some(v)) = (p.parameter_key(), p.parameter_value())
            && let Some((_, name)) = PARAMETERS.iter().find(|(key, _)| *key == k)
        {
            values.insert((*name).to_owned(), v.to_owned());
        }
    }
    Ok(values)
}
