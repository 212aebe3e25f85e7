//! Copy fan-out, 1 leader → N followers: from the start of the leader's message (its own open
//! fills on the paper venue, settles, and queues the first fan-out page) until the last page
//! has queued the last follower's intent. The pages ([`vanta_app::copy::run_fanout`], 25
//! followers each) run one after another, as their FIFO group makes SQS deliver them; the time
//! SQS itself takes between pages is not included. Follower intents are counted, not run.
//!
//! The baseline is the physical limit downstream: each copy is one KMS signature, and KMS's
//! shared quota for asymmetric ECC_SECG_P256K1 `Sign` is 300 requests/s per account and region
//! by default, so 3.33 ms per follower.

use std::str::FromStr;
use std::time::{Duration, Instant};

use vanta_domain::ids::{IntentId, TelegramUserId};
use vanta_domain::intent::{Action, Intent, OpenOrder, Origin};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::{Leverage, Usdc};
use vanta_domain::ports::{FollowStore, IntentStore};
use vanta_domain::time::Clock;
use vanta_domain::user::{CopySizing, Follow, LeaderRef};

use crate::world::World;
use crate::{Report, Row, ms, us};

/// KMS's default quota for ECC_SECG_P256K1 Sign: 300 requests per second, so 1/300 s each.
pub const KMS_SIGN_PER_SEC: f64 = 300.0;
/// One signature at that rate, in µs.
pub const KMS_FLOOR_US: f64 = 1e6 / KMS_SIGN_PER_SEC;

const LEADER: i64 = 1;

/// Runs one leader open and its whole fan-out; (total time, leader message alone, pages, follower intents queued, store reads).
async fn once(world: &World, followers: usize, round: &str) -> Result<(Duration, Duration, usize, usize, crate::counting::Totals), String> {
    let leader = world.user(LEADER).await?;
    let order = OpenOrder {
        pair: PairSymbol::parse("BTC/USD").map_err(|e| e.to_string())?,
        side: Side::Long,
        collateral: Usdc::from_str("400").map_err(|e| e.to_string())?,
        leverage: Leverage::from_whole(10).map_err(|e| e.to_string())?,
        tp: None,
        sl: None,
        slippage: None,
    };
    let id = IntentId::parse(&format!("sig:leader:{round}")).map_err(|e| e.to_string())?;
    let intent =
        Intent::new(id.clone(), leader.id, Origin::Telegram { update_id: 1 }, Action::Open(order), round.to_owned(), world.clock.now());
    world.store.create_intent(&intent).await.map_err(|e| e.to_string())?;
    vanta_app::pipeline::enqueue(&world.deps, &leader, &id).await.map_err(|e| e.to_string())?;
    let first = world.queue.take(1).map_err(|e| e.to_string())?;
    world.store.reset();
    let started = Instant::now();
    for m in &first {
        vanta_app::worker::handle_delivery(&world.deps, &m.body, 1).await.map_err(|e| e.to_string())?;
    }
    let leader_msg = started.elapsed();
    let (mut pages, mut copies) = (0usize, 0usize);
    loop {
        let batch = world.queue.take(10).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            if m.body.contains("\"fanout\"") {
                pages += 1;
                vanta_app::worker::handle_delivery(&world.deps, &m.body, 1).await.map_err(|e| e.to_string())?;
            } else {
                copies += 1;
            }
        }
    }
    let total = started.elapsed();
    if copies != followers {
        return Err(format!("fan-out: {copies} follower intents queued for {followers} followers"));
    }
    Ok((total, leader_msg, pages, copies, world.store.totals()))
}

pub async fn run(report: &mut Report, followers: usize) -> Result<(), String> {
    let world = World::new(&[("COPY_MAX_FOLLOWERS", "100000")])?;
    world.verified_user(LEADER, true).await?;
    let since = world.clock.now();
    for k in 0..followers {
        let id = 1_000 + k as i64;
        world.user(id).await?;
        let f = Follow {
            follower: TelegramUserId(id),
            leader: LeaderRef::User(TelegramUserId(LEADER)),
            sizing: CopySizing::Fixed { collateral: Usdc::from_str("150").map_err(|e| e.to_string())? },
            max_leverage: Leverage::from_whole(20).map_err(|e| e.to_string())?,
            per_trade_cap: Usdc::from_str("500").map_err(|e| e.to_string())?,
            daily_cap: Usdc::from_str("2000").map_err(|e| e.to_string())?,
            counter: false,
            adopt_existing: false,
            active: true,
            since,
            stop_after_losses: 3,
            max_drawdown: Usdc::ZERO,
        };
        world.store.put_follow(&f).await.map_err(|e| e.to_string())?;
    }
    world.clock.advance(Duration::from_secs(1));
    once(&world, followers, "warm").await?; // warm-up (its copies exist; the next leader trade is new)
    let (total, leader_msg, pages, copies, reads) = once(&world, followers, "run").await?;
    let per = total / u32::try_from(followers.max(1)).unwrap_or(u32::MAX);

    let s = "copy fan-out";
    report.rows.push(
        Row::new(s, format!("leader fill → {followers} follower intents queued, per follower"), us(per), "µs")
            .against(KMS_FLOOR_US, "KMS Sign quota 300/s")
            .goal("≤ 500 µs"),
    );
    report.rows.push(
        Row::new(s, format!("whole fan-out ({pages} pages)"), ms(total), "ms")
            .against(ms(Duration::from_secs_f64(followers as f64 / KMS_SIGN_PER_SEC)), format!("{followers} KMS signatures at 300/s")),
    );
    report.details.insert(
        "fanout".into(),
        serde_json::json!({
            "followers": followers, "pages": pages, "follower_intents": copies,
            "total_ms": ms(total), "leader_message_ms": ms(leader_msg), "per_follower_us": us(per),
            "store": reads, "store_items_read_per_follower": reads.items_read as f64 / followers.max(1) as f64,
            "kms_quota": "ECC_SECG_P256K1 Sign: 300 requests/s per account and region (AWS KMS default quota, shared by asymmetric ECC signing)",
        }),
    );
    Ok(())
}
