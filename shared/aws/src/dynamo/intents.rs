//! Intents, their idempotency records and audit trail.

use async_trait::async_trait;
use vanta_domain::ids::{IntentId, TelegramUserId};
use vanta_domain::intent::{AuditEntry, CreateOutcome, Intent, IntentState, Transition};
use vanta_domain::ports::IntentStore;
use vanta_domain::position::Position;
use vanta_domain::{DomainError, DomainResult};

use super::codec::{self, AuditRow, IntentRow, n, s};
use super::errors::TxError;
use super::keys as k;
use super::{DynamoStore, Expr, OPTIMISTIC_ATTEMPTS, Query, new_item};

fn audit_of(id: &IntentId, t: &Transition) -> AuditEntry {
    AuditEntry { intent: id.clone(), at: t.at, state: t.to, reason: t.reason.clone(), detail: t.detail.clone() }
}

/// The intent is still in `state` with its latest audit entry numbered `seq`: nobody moved it
/// since it was read (`seq` rules out A→B→A in between).
fn unchanged(state: IntentState, seq: u64) -> Expr {
    let text = if seq == 0 { "#state = :state AND (attribute_not_exists(#seq) OR #seq = :seq)" } else { "#state = :state AND #seq = :seq" };
    Expr::new(text).name("#state", k::STATE).name("#seq", k::AUDIT_SEQ).value(":state", s(state.as_str())).value(":seq", n(seq))
}

impl DynamoStore {
    async fn intent_row(&self, id: &IntentId) -> DomainResult<Option<IntentRow>> {
        self.get_as(k::intent(id), k::INTENT).await
    }

    /// Applies `t` to the stored intent and writes it with its audit entry (and `position`, if
    /// any) in one transaction. Retries on fresh reads when another writer got in between.
    async fn apply_transition(&self, op: &str, id: &IntentId, t: &Transition, position: Option<&Position>) -> DomainResult<Intent> {
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let Some(row) = self.intent_row(id).await? else {
                if let Some(p) = position {
                    // As the in-memory store: a taken position id is refused before the lookup.
                    if self.get(k::user(p.user), &k::position(&p.id)).await?.is_some() {
                        return Err(DomainError::Conflict(format!("position {} exists", p.id)));
                    }
                }
                return Err(DomainError::NotFound(format!("intent {id}")));
            };
            let mut next = row.intent.clone();
            t.apply(&mut next)?;
            let seq = row.seq.saturating_add(1);
            let mut ops = vec![self.tx_put(codec::intent_item(&next, seq)?, Some(unchanged(t.from, row.seq)))?];
            if let Some(p) = position {
                ops.push(self.tx_put(codec::position_item(p)?, Some(new_item()))?);
            }
            ops.push(self.tx_put(codec::audit_item(&audit_of(id, t), seq)?, Some(new_item()))?);
            if let Some(p) = position {
                // Its trigger index entries, after the items whose conditions are numbered above.
                self.record_pair(&p.pair).await?;
                ops.extend(self.index_ops(p, true)?);
            }
            match self.transact(op, ops).await {
                Ok(()) => return Ok(next),
                Err(e) if position.is_some() && e.failed(1) => {
                    let pid = position.map(|p| p.id.to_string()).unwrap_or_default();
                    return Err(DomainError::Conflict(format!("position {pid} exists")));
                }
                // The intent moved meanwhile: the next read decides (`apply` refuses a wrong state).
                Err(TxError::Condition { .. }) => continue,
                Err(TxError::Other(e)) => return Err(e),
            }
        }
        Err(DomainError::Conflict(format!("intent {id} kept changing meanwhile")))
    }
}

#[async_trait]
impl IntentStore for DynamoStore {
    async fn create_intent(&self, intent: &Intent) -> DomainResult<CreateOutcome> {
        let first = AuditEntry { intent: intent.id.clone(), at: intent.created_at, state: intent.state, reason: None, detail: None };
        let ops = vec![
            self.tx_put(codec::idem_item(intent), Some(new_item()))?,
            self.tx_put(codec::intent_item(intent, 0)?, Some(new_item()))?,
            self.tx_put(codec::audit_item(&first, 0)?, Some(new_item()))?,
        ];
        match self.transact("create_intent", ops).await {
            Ok(()) => Ok(CreateOutcome::Created),
            Err(TxError::Condition { .. }) => match self.intent_row(&intent.id).await? {
                Some(row) if row.intent.payload_hash == intent.payload_hash => Ok(CreateOutcome::Duplicate(row.intent)),
                Some(row) => Ok(CreateOutcome::Mismatch(row.intent)),
                None => Err(DomainError::Internal(format!("intent {} has an idempotency record but no intent item", intent.id))),
            },
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn get_intent(&self, id: &IntentId) -> DomainResult<Option<Intent>> {
        Ok(self.intent_row(id).await?.map(|r| r.intent))
    }

    async fn transition(&self, id: &IntentId, t: &Transition) -> DomainResult<Intent> {
        self.apply_transition("transition", id, t, None).await
    }

    async fn settle_with_position(&self, id: &IntentId, t: &Transition, position: &Position) -> DomainResult<Intent> {
        self.apply_transition("settle_with_position", id, t, Some(position)).await
    }

    async fn user_intents(&self, user: TelegramUserId, limit: usize) -> DomainResult<Vec<Intent>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.query_as(Query::gsi1(k::user(user)).prefix(k::INTENT_PREFIX).newest_first().max(limit)).await
    }

    async fn open_intents(&self) -> DomainResult<Vec<Intent>> {
        let found: Vec<Intent> = self.query_as(Query::gsi2(k::OPEN_INTENT.to_owned())).await?;
        // The index is eventually consistent: an intent resolved a moment ago is left out.
        Ok(found.into_iter().filter(|i| i.state.outcome_unknown()).collect())
    }

    async fn audit_trail(&self, id: &IntentId) -> DomainResult<Vec<AuditEntry>> {
        let mut rows: Vec<AuditRow> = self.query_as(Query::table(k::intent(id)).prefix(k::AUDIT_PREFIX)).await?;
        // Written order, even if a clock stepped back between two entries.
        rows.sort_by_key(|r| r.seq);
        Ok(rows.into_iter().map(|r| r.entry).collect())
    }
}
