"""The official Veranta SDK's spread client (``markets.spread``, veranta-sdk==2.2.0 in .venv) against
our fake server's risk engine (``POST {risk_v2}/spread``).

stdin: one JSON line ``{"base": <fake base URL>, "cases": [{"pair", "is_long", "is_open",
"collateral", "leverage", "wanted_price" (null: the feed's price), "trader"}]}`` (numbers as decimal
strings). For each case
it prints one line ``{"case": i, "ok": true, "spreadPct10": <quoted spread × 1e10 as text>}`` or
``{"case": i, "ok": false, "status": <HTTP status>, "error": <text>}``; the last line is
``{"done": true}``. The SDK is configured only through its own ``VERANTA_*`` settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal


async def main() -> None:
    job = json.loads(sys.stdin.readline())
    for legacy in [k for k in os.environ if k.startswith("AVANTIS_") or k.startswith("VERANTA_")]:
        del os.environ[legacy]
    os.environ["VERANTA_API_BASE_URL"] = job["base"]
    os.environ["VERANTA_TX_BUILDER_URL"] = job["base"] + "/txb"
    os.environ["VERANTA_FEED_URL"] = job["base"] + "/feed"

    from veranta_sdk import AsyncVeranta

    client = AsyncVeranta()
    assert client.config.risk_v2_api_url == job["base"] + "/risk/v2", client.config.risk_v2_api_url
    for i, c in enumerate(job["cases"]):
        try:
            out = await client.markets.spread(
                int(c["pair"]),
                is_long=bool(c["is_long"]),
                is_open=bool(c["is_open"]),
                collateral=Decimal(c["collateral"]),
                leverage=Decimal(c["leverage"]),
                wanted_price=None if c.get("wanted_price") is None else Decimal(c["wanted_price"]),
                trader=c["trader"],
            )
            quoted = out.get("estimatedSpreadPctWithFlow10") or out.get("spreadPctWithoutFlow10")
            # The SDK's own descaled value, re-scaled exactly, must be the raw field it came from.
            assert Decimal(repr(out["spreadPct"])) * Decimal(10**10) == Decimal(quoted), (out, quoted)
            print(json.dumps({"case": i, "ok": True, "spreadPct10": str(quoted)}), flush=True)
        except Exception as e:  # noqa: BLE001 - every error is reported to the harness
            status = getattr(e, "status", None) or getattr(e, "status_code", None)
            print(json.dumps({"case": i, "ok": False, "status": status, "error": f"{type(e).__name__}: {e}"}), flush=True)
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
