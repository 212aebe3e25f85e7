"""The official Veranta SDK (veranta-sdk==2.2.0, installed in .venv) driven against our fake server.

Two ways to run it:

- under the Rust test (tests/it/sdk.rs): the first stdin line is the fake's greeting JSON; the script
  sends fake commands as ``CMD <command>`` lines on stdout and reads each answer (one JSON line) on
  stdin;
- by hand: ``.venv/bin/python tests/support/sdk_against_fake.py --spawn target/debug/fake-veranta``
  starts the fake program and talks to it over its stdin/stdout.

Every flow prints one line ``{"flow": <name>, "ok": <bool>, "detail": <text>}``; the last line is
``{"done": true}``. The SDK is configured only through its own ``VERANTA_*`` settings, pointed at the
fake, signing with the delegate key for the trader (the normal delegate setup).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import traceback
from decimal import Decimal


class Control:
    """The fake's command channel (the Rust harness over our stdio, or the spawned program)."""

    def __init__(self, spawn: str | None) -> None:
        self.proc = None
        if spawn:
            env = dict(os.environ, FAKE_VERANTA_TPSL_DELAY_MS="600")
            self.proc = subprocess.Popen(
                [spawn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
            )
            self.hello = json.loads(self.proc.stdout.readline())
        else:
            self.hello = json.loads(sys.stdin.readline())

    def __call__(self, command: str) -> dict:
        if self.proc is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        else:
            print("CMD " + command, flush=True)
            line = sys.stdin.readline()
        answer = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"fake refused {command!r}: {answer}")
        return answer

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


def report(flow: str, ok: bool, detail: str) -> None:
    print(json.dumps({"flow": flow, "ok": ok, "detail": detail}), flush=True)


class FlowFailed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise FlowFailed(what)


def requests_to(ctl: Control, endpoint: str) -> list[dict]:
    return [r for r in ctl("log")["requests"] if r["endpoint"] == endpoint]


async def main(ctl: Control) -> None:
    hello = ctl.hello
    urls = hello["urls"]
    # Only the SDK's own settings: the central-routing base derives /core, /batched-market, /data.
    os.environ.update(
        {
            "VERANTA_PRIVATE_KEY": hello["delegate_private_key"],
            "VERANTA_TRADER_ADDRESS": hello["trader"],
            "VERANTA_API_BASE_URL": urls["base"],
            "VERANTA_TX_BUILDER_URL": urls["tx_builder"],
            "VERANTA_FEED_URL": urls["feed"],
        }
    )
    for legacy in [k for k in os.environ if k.startswith("AVANTIS_")]:
        del os.environ[legacy]

    from veranta_sdk import AsyncVeranta
    from veranta_sdk.errors import (
        DigestMismatchError,
        RateLimitedError,
        RelayError,
        RelayTimeoutError,
        ValidationError,
    )

    client = AsyncVeranta(relay_poll_interval_s=0.1, relay_poll_timeout_s=10.0)
    check_cfg = client.config
    assert check_cfg.core_api_url == urls["core"], check_cfg.core_api_url
    assert check_cfg.batched_market_url == urls["batched_market"], check_cfg.batched_market_url
    assert check_cfg.data_api_url == urls["data"], check_cfg.data_api_url
    trader = hello["trader"]
    state: dict = {}

    async def flow(name: str, body) -> None:
        try:
            detail = await body()
            report(name, True, detail or "")
        except Exception as exc:  # every failure is reported, the next flow still runs
            report(name, False, f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)}")

    async def meta():
        m = await client.meta()
        check(int(m["chainId"]) == int(hello["chain_id"]), f"chainId {m['chainId']}")
        check(
            m["addresses"]["tradingRouter"].lower() == hello["trading_router"].lower(),
            "tradingRouter differs from the greeting",
        )
        check(m["eip712"]["trading"]["name"] == "AvantisTrading", "EIP-712 domain name")
        check(await client.chain_id() == int(hello["chain_id"]), "client.chain_id()")
        return f"chainId {m['chainId']}, router {m['addresses']['tradingRouter']}"

    async def delegation():
        status = await client.account.delegation_status()
        check(status.get("canSignIntents") is True, f"canSignIntents: {status}")
        check(status.get("canDelegatedAction") is True, f"canDelegatedAction: {status}")
        await client.account.verify_delegation()  # raises DelegationError when not allowed
        # A stranger's key is refused by the SDK's own check.
        from veranta_sdk.errors import DelegationError

        stranger = AsyncVeranta(
            private_key="0x" + "11" * 32, trader_address=trader, relay_poll_timeout_s=2.0
        )
        try:
            await stranger.account.verify_delegation()
            raise FlowFailed("an unregistered delegate passed verify_delegation")
        except DelegationError:
            pass
        finally:
            await stranger.aclose()
        return f"delegate {hello['delegate']} can sign intents for {trader}"

    async def price():
        px = await client.markets.price("ETH/USD")
        check(px > 0, f"price {px}")
        data = await client.markets.price_update_data("ETH/USD")
        check(str(data["pro"]["priceUpdateData"]).startswith("0x"), "pro.priceUpdateData")
        check(str(data["core"]["priceUpdateData"]).startswith("0x"), "core.priceUpdateData")
        state["price"] = Decimal(str(px))
        return f"ETH/USD {px}"

    async def market_open():
        ctl("clear")
        events = []
        receipt = await client.trade.market_open(
            "ETH/USD", "long", collateral=100, leverage=10, on_event=events.append
        )
        kinds = [e.type for e in events]
        check(kinds[0] == "MarketOrderAccepted", f"first event {kinds}")
        check(kinds[-1] == "MarketOrderExecuted", f"terminal {kinds}")
        check(receipt.tracking_id, "no tracking id")
        check(receipt.order_id is not None and receipt.tx_hash, "no order id / tx hash")
        sent = requests_to(ctl, "ExecuteBatched")
        check(len(sent) == 1, f"{len(sent)} submissions")
        body = sent[0]["body"]
        check("eip7702" in body, "the SDK's EIP-7702 leg is missing from the submission")
        check(sent[0]["status"] == 200, f"submission status {sent[0]['status']}")
        opens = requests_to(ctl, "IntentOpen")
        check(opens and "openPrice" not in opens[0]["body"], "the SDK sent openPrice")
        state["open"] = receipt
        return f"tracking {receipt.tracking_id}, events {kinds}"

    async def replay():
        receipt = state["open"]
        bm = client.engine.batched_market
        events = await bm.status(receipt.tracking_id)
        kinds = [e.type for e in events]
        check(kinds[0] == "MarketOrderAccepted" and kinds[-1] == "MarketOrderExecuted", f"{kinds}")
        check([e.seq for e in events] == list(range(len(events))), "seqs are not 0..n")
        after = await bm.status(receipt.tracking_id, after_seq=0)
        check([e.seq for e in after] == [e.seq for e in events[1:]], "afterSeq=0 replay")
        outcome = await bm.wait(receipt.tracking_id, after_seq=0)
        check(outcome.terminal is not None and outcome.terminal.type == "MarketOrderExecuted", "wait")
        return f"replayed {kinds}"

    async def positions():
        data = await client.account.positions()
        mine = [p for p in data.positions if p.pair_index == 0]
        check(len(mine) == 1, f"{len(mine)} ETH positions")
        p = mine[0]
        check(int(p.leverage_raw) == 10 * 10**10, f"leverage {p.leverage_raw}")
        check(int(p.tp_raw) > int(p.open_price_raw), f"tp {p.tp_raw} (the venue always holds a TP)")
        check(int(p.sl_raw) == 0, f"sl {p.sl_raw}")
        check(int(p.open_price_raw) == int(state["price"] * 10**10), f"open {p.open_price_raw}")
        state["position"] = p
        return f"index {p.index}, collateral {p.collateral_raw}, tp {p.tp_raw}"

    async def limit_orders():
        # A resting limit order placed for the trader (as the Veranta app would), read back by the
        # SDK's own `/user-data` model, then cancelled.
        placed = ctl("limit 1 short 30 100 70000")
        check(placed.get("ok") is True, f"placed {placed}")
        mine = [o for o in (await client.account.positions()).limit_orders if o.pair_index == 1]
        check(len(mine) == 1, f"{len(mine)} BTC limit orders")
        o = mine[0]
        check(o.side == "short", f"side {o.side}")
        check((o.collateral, o.leverage, o.price) == (Decimal("30"), Decimal("100"), Decimal("70000")), f"{o}")
        ctl(f"cancel_limit 1 {placed['order']['index']}")
        left = [o for o in (await client.account.positions()).limit_orders if o.pair_index == 1]
        check(not left, f"{len(left)} left after the cancel")
        return f"index {o.index}, collateral {o.collateral_raw}, price {o.price_raw}"

    async def tpsl_update():
        p = state["position"]
        ctl("clear")
        new_sl = state["price"] * Decimal("0.9")
        await client.trade.update_tp_sl("ETH/USD", p.index, stop_loss=new_sl)
        log = ctl("log")["requests"]
        puts = [i for i, r in enumerate(log) if r["endpoint"] == "PriceTriggerPut"]
        check(len(puts) == 1, f"{len(puts)} PUTs")
        polls = [r for r in log[puts[0] + 1 :] if r["endpoint"] == "UserData"]
        check(len(polls) >= 2, f"the SDK saw the update on poll {len(polls)} (no wait)")
        after = (await client.account.positions()).position(0, p.index)
        check(int(after.sl_raw) == int(new_sl * 10**10), f"sl {after.sl_raw}")
        check(after.tp_raw == p.tp_raw, f"tp moved {p.tp_raw} -> {after.tp_raw}")
        return f"sl {after.sl_raw} visible after {len(polls)} /user-data polls"

    async def partial_tpsl():
        p = state["position"]
        coin = Decimal(p.collateral_raw) * 10 / Decimal(10**6) / state["price"] / 2
        coin = coin.quantize(Decimal("0.0001"))
        order = await client.trade.partial_tp_sl(
            "ETH/USD", p.index, side="long", kind="tp", coin_exposure=coin, price=state["price"] * Decimal("1.1")
        )
        entity = order.get("entityId")
        check(entity, f"no entityId: {order}")
        listed = (await client.account.positions()).position(0, p.index)
        partials = [t for t in listed.price_triggers if not t.is_global]
        check([t.entity_id for t in partials] == [entity], f"partials {partials}")
        replaced = await client.trade.update_partial_tp_sl(
            entity, "ETH/USD", p.index, side="long", kind="tp", coin_exposure=coin, price=state["price"] * Decimal("1.2")
        )
        check(replaced["entityId"] != entity, "the replacement kept the old id")
        await client.trade.cancel_partial_tp_sl(replaced["entityId"])
        listed = (await client.account.positions()).position(0, p.index)
        check(not [t for t in listed.price_triggers if not t.is_global], "a partial survived the cancel")
        return f"created {entity}, replaced by {replaced['entityId']}, cancelled"

    async def close():
        p = state["position"]
        before = int(ctl("balance")["balance"])
        receipt = await client.trade.market_close(
            "ETH/USD", p.index, collateral_to_close=Decimal(p.collateral_raw) / Decimal(10**6)
        )
        check(receipt.tracking_id, "no tracking id")
        left = ctl("positions")["positions"]
        check(not left, f"still open: {left}")
        after = int(ctl("balance")["balance"])
        check(after - before == int(p.collateral_raw), f"balance {before} -> {after}")
        return f"closed; balance {after}"

    async def err_rate_limit():
        ctl("fail IntentOpen 1 429 RATE_LIMITED Too many requests")
        try:
            await client.trade.market_open("ETH/USD", "long", collateral=100, leverage=10)
        except RateLimitedError as exc:
            check(exc.status == 429 and exc.code == "RATE_LIMITED", f"{exc!r}")
            return f"RateLimitedError {exc.status} {exc.code}"
        raise FlowFailed("no RateLimitedError")

    async def err_validation():
        n = len(requests_to(ctl, "ExecuteBatched"))
        try:
            await client.trade.market_open("ETH/USD", "long", collateral=5, leverage=2)
        except ValidationError as exc:
            check(exc.status == 400, f"{exc!r}")
            check(len(requests_to(ctl, "ExecuteBatched")) == n, "submitted anyway")
            return f"ValidationError {exc.status} {exc.code}: {exc}"
        raise FlowFailed("a 10 USDC position passed validation")

    async def err_relay_timeout():
        # The terminal Error of a 7702 relay timeout, then a TP/SL update never visible in time.
        ctl("outcome error:RELAY_TIMEOUT")
        try:
            await client.trade.market_open("ETH/USD", "long", collateral=100, leverage=10)
            raise FlowFailed("a RELAY_TIMEOUT terminal did not raise")
        except RelayError as exc:
            check(exc.code == "RELAY_TIMEOUT", f"code {exc.code}")
        check(not ctl("positions")["positions"], "RELAY_TIMEOUT opened a position")
        opened = await client.trade.market_open("ETH/USD", "long", collateral=100, leverage=10)
        index = [p for p in (await client.account.positions()).positions if p.pair_index == 0][0].index
        impatient = AsyncVeranta(relay_poll_interval_s=0.05, relay_poll_timeout_s=0.2)
        try:
            await impatient.trade.update_tp_sl("ETH/USD", index, stop_loss=state["price"] * Decimal("0.8"))
            raise FlowFailed("an update not yet visible settled")
        except RelayTimeoutError as exc:
            check("not visible" in str(exc), f"{exc}")
        finally:
            await impatient.aclose()
        await client.trade.market_close("ETH/USD", index, collateral_to_close=Decimal(10**9))
        return f"RelayError RELAY_TIMEOUT; RelayTimeoutError on the TP/SL wait (order {opened.order_id})"

    async def err_digest():
        ctl("wrong_digest on")
        n = len(requests_to(ctl, "ExecuteBatched"))
        try:
            await client.trade.market_open("ETH/USD", "long", collateral=100, leverage=10)
            raise FlowFailed("a wrong digest was signed and sent")
        except DigestMismatchError as exc:
            check(len(requests_to(ctl, "ExecuteBatched")) == n, "submitted after a digest mismatch")
            return f"DigestMismatchError: {str(exc)[:80]}"
        finally:
            ctl("wrong_digest off")

    for name, body in [
        ("meta", meta),
        ("delegation", delegation),
        ("price", price),
        ("market_open", market_open),
        ("replay", replay),
        ("positions", positions),
        ("limit_orders", limit_orders),
        ("tpsl_update", tpsl_update),
        ("partial_tpsl", partial_tpsl),
        ("close", close),
        ("error_rate_limit", err_rate_limit),
        ("error_validation", err_validation),
        ("error_relay_timeout", err_relay_timeout),
        ("error_digest_mismatch", err_digest),
    ]:
        await flow(name, body)
    await client.aclose()


if __name__ == "__main__":
    spawn = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--spawn" else None
    ctl = Control(spawn)
    started = time.time()
    try:
        asyncio.run(main(ctl))
    finally:
        print(json.dumps({"done": True, "seconds": round(time.time() - started, 2)}), flush=True)
        ctl.close()
