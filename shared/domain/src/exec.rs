//! Execution mode and the emergency stop.
//!
//! The effective mode is the *safest* of what the deployment says (env `COPY_EXECUTION_MODE`,
//! `EMERGENCY_STOP`) and what the operators last stored (the `exec_mode` control item). Any doubt
//! (a missing item, a read error) means DRY. Every path that can trade asks for it immediately
//! before signing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::TelegramUserId;
use crate::time::Timestamp;

/// Whether trades are simulated (DRY, the paper venue) or sent to Avantis (LIVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum ExecMode {
    #[default]
    Dry,
    Live,
}

impl ExecMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecMode::Dry => "DRY",
            ExecMode::Live => "LIVE",
        }
    }
}

impl FromStr for ExecMode {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "DRY" => Ok(ExecMode::Dry),
            "LIVE" => Ok(ExecMode::Live),
            other => Err(DomainError::Invalid(format!("exec mode must be DRY or LIVE, not '{other}'"))),
        }
    }
}

impl fmt::Display for ExecMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Emergency stop levels, from least to most drastic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StopLevel {
    #[default]
    None,
    /// No new entries; closes, TP/SL and reductions still run.
    PauseEntries,
    /// Close every position and cancel every trigger; then nothing trades.
    Flatten,
}

impl StopLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            StopLevel::None => "NONE",
            StopLevel::PauseEntries => "PAUSE_ENTRIES",
            StopLevel::Flatten => "FLATTEN",
        }
    }
}

impl FromStr for StopLevel {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "NONE" => Ok(StopLevel::None),
            "PAUSE_ENTRIES" => Ok(StopLevel::PauseEntries),
            "FLATTEN" => Ok(StopLevel::Flatten),
            other => Err(DomainError::Invalid(format!("stop level must be NONE, PAUSE_ENTRIES or FLATTEN, not '{other}'"))),
        }
    }
}

/// The operators' stored setting (the `exec_mode` control item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecControl {
    pub mode: ExecMode,
    pub stop: StopLevel,
    pub updated_by: Option<TelegramUserId>,
    pub updated_at: Timestamp,
    /// Optimistic-lock version; every write increments it.
    pub version: u64,
}

impl ExecControl {
    /// What a fresh deployment starts with: DRY, no stop.
    pub fn initial(at: Timestamp) -> Self {
        Self { mode: ExecMode::Dry, stop: StopLevel::None, updated_by: None, updated_at: at, version: 0 }
    }
}

/// One FLATTEN stop as the flatten sweep follows it (stored beside the exec-control item), so
/// that every tick, on any instance, reports progress over the same positions and names the same
/// intents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlattenRun {
    /// The exec-control version at which the sweep first saw this stop: it names the stop's
    /// flatten intents, so repeated and overlapping sweeps create each of them once.
    pub activation: u64,
    pub started_at: Timestamp,
    /// Who pulled it (None: an operator with the AWS CLI). Progress goes to them, or to every
    /// configured admin.
    pub by: Option<TelegramUserId>,
    /// Every position the sweep found live during this stop.
    pub targets: std::collections::BTreeSet<(TelegramUserId, crate::ids::PositionId)>,
    /// When the stop was released (a later FLATTEN starts a new run).
    pub ended_at: Option<Timestamp>,
}

/// What the deployment's environment says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnvExec {
    pub mode: ExecMode,
    pub emergency_stop: bool,
}

/// The mode a trade runs in, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveExec {
    pub mode: ExecMode,
    pub stop: StopLevel,
    /// Human-readable reason when the result is safer than what was asked for.
    pub why: Option<String>,
}

impl EffectiveExec {
    /// Whether an order that opens or increases exposure may go ahead.
    pub fn allows_entries(&self) -> bool {
        self.stop == StopLevel::None
    }
    /// Whether an order that only reduces exposure may go ahead (closes, TP/SL, flatten).
    pub fn allows_exits(&self) -> bool {
        true
    }
}

/// Combines env and the stored item, failing closed.
pub fn effective_exec(env: EnvExec, stored: Result<Option<ExecControl>, DomainError>) -> EffectiveExec {
    let env_stop = if env.emergency_stop { StopLevel::PauseEntries } else { StopLevel::None };
    match stored {
        Err(e) => EffectiveExec { mode: ExecMode::Dry, stop: env_stop, why: Some(format!("exec mode unreadable ({e}); running DRY")) },
        Ok(None) => {
            EffectiveExec { mode: ExecMode::Dry, stop: env_stop, why: Some("exec mode not set by an operator; running DRY".into()) }
        }
        Ok(Some(c)) => {
            let mode = env.mode.min(c.mode); // Dry < Live
            let stop = env_stop.max(c.stop);
            let why = match (env.mode, c.mode) {
                (ExecMode::Dry, ExecMode::Live) => Some("deployment is DRY (COPY_EXECUTION_MODE)".into()),
                _ => None,
            };
            EffectiveExec { mode, stop, why }
        }
    }
}
