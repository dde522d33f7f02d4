"""POST /api/recommendations under load vs a trivial JSON endpoint of the same app.

Prepares the demo shop (Online Retail history) on PostgreSQL, serves the app with
gunicorn (2 sync workers) on loopback, and drives it with wrk (Debian package `wrk`)
using 3-item carts drawn from real orders, each with a valid session token. Prints
throughput and p50/p99 latency for both endpoints and their ratio.

The server runs as in production: PostgreSQL plus Redis for the cache change signals
(posai_app/cache_signals.py); `--no-redis` serves with the embedded default's in-process
signals instead.

usage: .venv/bin/python bench/api_throughput.py [--duration 15] [--connections 8] [--no-redis] [--tokens N]
env:   BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/posai_bench)
       BENCH_REDIS_URL (default redis://127.0.0.1:6379/14)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_stack import free_port, wait_for_healthz  # noqa: E402

BIN = Path(sys.executable).parent
API_KEY = "bench-api-key"
API_SECRET = "bench-api-secret-0123456789abcdef0123456789abcdef"  # noqa: S105


def ensure_database(url: str) -> None:
    import sqlalchemy as sa

    target = sa.engine.make_url(url)
    server = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
        ).first()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    server.dispose()


def env_for(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "REDIS_URL": "",
        "POSAI_DEMO": "1",
    }


def carts_and_tokens(env: dict[str, str], count: int) -> list[tuple[str, str]]:
    """(token, body) pairs: 3-item carts from real orders of the demo shop."""
    os.environ.update(env)
    import sqlalchemy as sa

    from posai_app import create_app
    from posai_app.admin.demo import mint_demo_session_token
    from posai_app.demo import DEMO_SHOP_DOMAIN
    from posai_app.extensions import db
    from posai_app.models import OrderLineItem, Shop

    app = create_app()
    with app.app_context():
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.domain == DEMO_SHOP_DOMAIN))
        rows = db.session.execute(
            sa.select(OrderLineItem.order_id, OrderLineItem.variant_id)
            .where(OrderLineItem.shop_id == shop_id, OrderLineItem.variant_id.is_not(None))
            .order_by(OrderLineItem.order_id, OrderLineItem.line_item_id)
        ).all()
        baskets: dict[int, list[int]] = {}
        for order_id, vid in rows:
            items = baskets.setdefault(order_id, [])
            if vid not in items:
                items.append(vid)
        eligible = [items for items in baskets.values() if len(items) >= 3]
        rng = random.Random(7)
        pairs = []
        for _ in range(count):
            items = rng.choice(eligible)
            cart = rng.sample(items, 3)
            token = mint_demo_session_token(app.config, DEMO_SHOP_DOMAIN, ttl=3600)
            pairs.append((token, json.dumps({"cartVariantIds": [str(v) for v in cart]})))
        db.engine.dispose()
    return pairs


LUA = """
local requests = {}
local i = 0
init = function(args)
  local f = io.open(args[1], "r")
  for line in f:lines() do
    local tab = line:find("\\t")
    local token, body = line:sub(1, tab - 1), line:sub(tab + 1)
    requests[#requests + 1] = wrk.format("POST", "/api/recommendations",
      {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
  end
  f:close()
end
request = function()
  i = i % #requests + 1
  return requests[i]
end
"""


def run_wrk(
    url: str, seconds: int, connections: int, script: str | None = None, data: str | None = None
) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
        cmd += ["--", data]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--no-redis", action="store_true", help="in-process cache signals (no Redis)")
    parser.add_argument(
        "--tokens",
        type=int,
        default=2000,
        help="distinct session tokens, cycled (a POS device reuses its token for its minute of life; "
        "use more tokens than requests to make every token new)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian package)")
    redis_url = "" if args.no_redis else os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    url = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/posai_bench")
    ensure_database(url)
    env = env_for(url)
    subprocess.run(
        [str(BIN / "posai"), "demo", "--no-serve"],
        env=env,
        check=True,
        cwd=ROOT,  # noqa: S603
        stdout=subprocess.DEVNULL,
    )
    pairs = carts_and_tokens(env, args.tokens)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp, "requests.tsv")
        data.write_text("".join(f"{t}\t{b}\n" for t, b in pairs))
        script = Path(tmp, "carts.lua")
        script.write_text(LUA)
        port = free_port()
        server = subprocess.Popen(  # noqa: S603
            [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "posai_app:create_app()"],
            env={
                **env,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "WEB_CONCURRENCY": "2",
                "GUNICORN_LOG_LEVEL": "warning",
                "REDIS_URL": redis_url,  # the demo above ran its jobs inline; the server only reads signals
            },
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_healthz(port, seconds=30)
            run_wrk(base + "/api/recommendations", 3, args.connections, str(script), str(data))  # warm-up
            trivial = run_wrk(base + "/healthz", args.duration, args.connections)
            reco = run_wrk(
                base + "/api/recommendations", args.duration, args.connections, str(script), str(data)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(
        f"cache signals: {'Redis ' + redis_url if redis_url else 'in-process (no Redis)'}; "
        f"{args.tokens} distinct session tokens, cycled"
    )
    print(f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}  socket errors")
    for name, r in (("GET /healthz (trivial JSON)", trivial), ("POST /api/recommendations", reco)):
        print(
            f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non2xx']:>10}  "
            f"{r['socket_errors']}"
        )
    print(
        f"recommendations / trivial throughput: {reco['rps'] / trivial['rps']:.2f} "
        f"(target >= 0.50; p99 target < 20 ms)"
    )


if __name__ == "__main__":
    main()
