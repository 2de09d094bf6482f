"""Time to generate an account history of 50,000 trades over 20 symbols through the admin API.

.venv/bin/python bench/sim_history.py [--trades 50000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx

from tresor.sim.server import SimConfig, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    running = serve_in_thread(SimConfig(seed=1))
    try:
        with httpx.Client(base_url=running.url, timeout=600) as http:
            account = http.post("/_sim/accounts", json={"balances": {}}).json()["account_id"]
            started = time.perf_counter()
            answer = http.post(
                f"/_sim/accounts/{account}/history",
                json={"days": args.days, "trades": args.trades, "seed": 1},
            ).json()
            wall = time.perf_counter() - started
            truth = http.get(f"/_sim/accounts/{account}/truth").json()
    finally:
        running.stop()
    symbols = len({t["symbol"] for t in truth["trades"]})
    result = {
        "trades": answer["trades"],
        "orders": answer["orders"],
        "symbols": symbols,
        "deposits": answer["deposits"],
        "withdrawals": answer["withdrawals"],
        "generator_seconds": answer["seconds"],
        "wall_seconds": round(wall, 3),
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sim_history.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
