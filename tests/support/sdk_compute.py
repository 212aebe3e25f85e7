"""Runs the official Veranta SDK's pure `compute/` functions over the cases on stdin.

Input: one JSON array of cases, each `{"fn": <name>, ...arguments as decimal strings...}`.
Output: one JSON array, one result per case, every figure as `{"floor", "ceil", "exact"}` at the
scale the case asks for (`value × 10^scale` rounded down and up, and whether it was whole), so
the Rust side compares its integers with the SDK's values without any arithmetic of its own.

The SDK's functions are duck-typed: given `Decimal`s they compute in decimal arithmetic (with 80
significant digits here), which is exact for every operation they do except the divisions, whose
results are correctly rounded far below our units. Where a function mixes in a float literal of
its own (`pnl_order_min_sl`, the fixed-fee branch of `net_pnl`), it is called with floats and
the result is marked `"float": true`: then the Rust side allows one unit of its scale.
"""

import json
import sys
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, getcontext

from veranta_sdk import compute
from veranta_sdk.compute import validation
from veranta_sdk.compute.liquidation import LIQ_THRESHOLD_P
from veranta_sdk.markets.models import PairInfo, TradingSnapshot

getcontext().prec = 80


def D(v):
    return Decimal(str(v))


def fig(value, scale, is_float=False):
    v = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    scaled = v.scaleb(scale)
    return {
        "floor": str(int(scaled.to_integral_value(rounding=ROUND_FLOOR))),
        "ceil": str(int(scaled.to_integral_value(rounding=ROUND_CEILING))),
        "exact": scaled == scaled.to_integral_value(),
        "float": is_float,
        "text": str(v),
    }


def skew_lines(c):
    return [[D(a), D(b)] for a, b in c["skew"]]


def run(c):
    fn = c["fn"]
    if fn == "liquidation":
        v = compute.estimate_liquidation_price(
            open_price=D(c["open"]),
            collateral=D(c["collateral"]),
            leverage=D(c["leverage"]),
            is_long=c["long"],
            rollover_fee=D(c["rollover"]),
            funding_fee=D(c["funding"]),
            liq_threshold_p=D(LIQ_THRESHOLD_P),
        )
        return {"price": fig(v, 10)}
    if fn == "skew_open_fee":
        if not c["skew"]:
            return {"rate": None, "fee": None}  # no skew lines: the flat openFeeP applies
        fee_p, fee = compute.skew_adjusted_open_fee(
            position_size=D(c["size"]),
            is_long=c["long"],
            oi_long=D(c["oi_long"]),
            oi_short=D(c["oi_short"]),
            skew_eq_params=skew_lines(c),
            fee_discount_p=Decimal(0),
        )
        return {"rate": fig(fee_p, 10), "fee": fig(fee, 6)}
    if fn in ("open_maker_taker", "close_maker_taker"):
        f = compute.pair_open_maker_taker_fee_p if fn == "open_maker_taker" else compute.pair_close_maker_taker_fee_p
        kw = {
            "initial_coin_oi_long": D(c["coin_long"]),
            "initial_coin_oi_short": D(c["coin_short"]),
            "position_size_coin_oi": D(c["coin_size"]),
            "is_long": c["long"],
        }
        if fn == "open_maker_taker":
            kw.update(open_maker_fee_p=D(c["maker"]), open_taker_fee_p=D(c["taker"]))
        else:
            kw.update(close_maker_fee_p=D(c["maker"]), close_taker_fee_p=D(c["taker"]))
        mt = f(**kw)
        # The SDK gives the rate; the fee is that percentage of the notional.
        fee = D(c["notional"]) * D(mt.fee_p) / 100
        return {"rate": fig(mt.fee_p, 10), "kind": mt.kind, "fee": fig(fee, 6)}
    if fn == "upside_max_gain":
        v = compute.adjusted_max_gain_p(D(c["max_gain"]), [D(t) for t in c["tiers"]], [D(f) for f in c["fees"]])
        return {"cap": fig(v, 10)}
    if fn == "min_sl":
        lev = float(c["leverage"])
        curve = compute.pnl_order_min_sl(lev)
        out = {"curve": fig(curve, 10, True)}
        # The Upside floor as the SDK's validator judges it: an SL at our floor (plus a hair) is
        # accepted, one just below it refused.
        info, snap = pair_models(c["pair"])
        ours = float(Decimal(c["ours"]))
        spread = float(c["spread"])

        def sl_errors(sl):
            v = validation.validate_order(
                info, snap, collateral=100.0, leverage=lev, is_long=True, is_upside=True,
                stop_loss_percent=sl, dynamic_spread_p=spread,
            )
            return [e for e in v.errors if "stop loss" in e.lower()]

        out["accepts_ours"] = not sl_errors(ours + 1e-9)
        out["refuses_below"] = bool(sl_errors(ours - 1e-6))
        return out
    if fn == "tp_cap_validation":
        info, snap = pair_models(c["pair"])
        ours = float(Decimal(c["ours"]))

        def tp_errors(tp):
            v = validation.validate_order(
                info, snap, collateral=100.0, leverage=float(c["leverage"]), is_long=True, is_upside=True,
                take_profit_percent=tp,
            )
            return [e for e in v.errors if "take profit" in e.lower()]

        return {"accepts_ours": not tp_errors(ours - 1e-9), "refuses_above": bool(tp_errors(ours + 1e-6))}
    if fn == "net_pnl":
        upside = c["upside"]
        gross_up = compute.gross_pnl(D(c["price"]), D(c["open"]), D(c["collateral"]), D(c["leverage"]), c["long"]) > 0
        # On a loss the Upside branch multiplies by a float 0.0 of its own: floats then.
        if upside and not gross_up:
            n = compute.net_pnl(
                current_price=float(c["price"]),
                open_price=float(c["open"]),
                collateral=float(c["collateral"]),
                leverage=float(c["leverage"]),
                is_long=c["long"],
                is_upside=True,
                rollover_fee=float(c["rollover"]),
                funding_fee=float(c["funding"]),
                pnl_tier_p=[float(t) for t in c["tiers"]],
                pnl_fees_p=[float(f) for f in c["fees"]],
            )
            return {
                "gross": fig(n.gross, 6, True),
                "share": fig(n.profit_share_fee, 6, True),
                "fee": fig(n.closing_fee, 6, True),
                "net": fig(n.net, 6, True),
            }
        if upside:
            n = compute.net_pnl(
                current_price=D(c["price"]),
                open_price=D(c["open"]),
                collateral=D(c["collateral"]),
                leverage=D(c["leverage"]),
                is_long=c["long"],
                is_upside=True,
                rollover_fee=D(c["rollover"]),
                funding_fee=D(c["funding"]),
                pnl_tier_p=[D(t) for t in c["tiers"]],
                pnl_fees_p=[D(f) for f in c["fees"]],
            )
            return {"gross": fig(n.gross, 6), "share": fig(n.profit_share_fee, 6), "fee": fig(n.closing_fee, 6), "net": fig(n.net, 6)}
        n = compute.net_pnl(
            current_price=float(c["price"]),
            open_price=float(c["open"]),
            collateral=float(c["collateral"]),
            leverage=float(c["leverage"]),
            is_long=c["long"],
            close_fee_p=float(c["close_fee"]),
            rollover_fee=float(c["rollover"]),
            funding_fee=float(c["funding"]),
        )
        return {
            "gross": fig(n.gross, 6, True),
            "share": fig(n.profit_share_fee, 6, True),
            "fee": fig(n.closing_fee, 6, True),
            "net": fig(n.net, 6, True),
        }
    raise ValueError(f"unknown case {fn}")


def pair_models(raw):
    info = PairInfo.model_validate(raw)
    snap = TradingSnapshot.model_validate({"pairInfos": {str(raw["index"]): raw}})
    return info, snap


def main():
    cases = json.load(sys.stdin)
    json.dump([run(c) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
