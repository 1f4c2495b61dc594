"""Quick checks of a running service from a shell:

    python3 -m mixload_client --endpoint tcp://127.0.0.1:5555 hello     # the hello reply, JSON
    python3 -m mixload_client --endpoint tcp://127.0.0.1:5555 stats     # the stats reply, JSON
    python3 -m mixload_client --endpoint tcp://127.0.0.1:5555 weights   # weights vs achieved mix, a table

Read-only: ``stats`` and ``weights`` change nothing in the service, and ``hello`` only
handshakes (it does not fetch a batch). A failure prints one line and exits 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

from .client import MixloadClient, MixloadError, MixloadTimeout


def _key(value: Optional[str]) -> Optional[str]:
    # `mixload keygen` writes Z85 keys to files; accept the file or the key itself.
    if value is None or not os.path.isfile(value):
        return value
    with open(value, encoding="utf-8") as f:
        return f.read().strip()


def _weights_table(stats: Dict[str, Any], as_json: bool) -> str:
    weights: Dict[str, float] = stats["weights"]
    achieved: Dict[str, float] = stats.get("achieved", {})
    if as_json:
        return json.dumps({"step": stats.get("step"), "weights_version": stats.get("weights_version"),
                           "weights": weights, "achieved": achieved})
    width = max([len("domain")] + [len(n) for n in weights])
    lines: List[str] = [f"weights version {stats.get('weights_version', '?')} at step {stats.get('step', '?')}",
                        f"{'domain':<{width}}  {'weight':>8}  {'achieved':>8}"]
    for name, w in weights.items():
        a = achieved.get(name)
        lines.append(f"{name:<{width}}  {w:8.4f}  {'-' if a is None else format(a, '8.4f'):>8}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m mixload_client", description="Ask a running mixload service (read-only).")
    p.add_argument("command", choices=["hello", "stats", "weights"],
                   help="hello: the handshake reply; stats: the stats reply; weights: current weights and achieved mix")
    p.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="the service's control endpoint (serve.control)")
    p.add_argument("--rank", type=int, default=0, help="rank for hello (default 0)")
    p.add_argument("--world", type=int, default=1, help="world for hello; must equal the service's (default 1)")
    p.add_argument("--timeout-ms", type=int, default=5000, help="per ask (default 5000)")
    p.add_argument("--retries", type=int, default=1, help="re-asks after a timeout (default 1)")
    p.add_argument("--server-key", help="the service's CURVE public key, or its .pub file (serve.curve)")
    p.add_argument("--json", action="store_true", help="weights: one JSON line instead of a table")
    args = p.parse_args(argv)

    client = MixloadClient(args.endpoint, rank=args.rank, world=args.world, timeout_ms=args.timeout_ms,
                           retries=args.retries, server_key=_key(args.server_key))
    try:
        if args.command == "hello":
            out = json.dumps(client.hello(), indent=2)
        elif args.command == "stats":
            out = json.dumps(client.stats(), indent=2)
        else:
            out = _weights_table(client.stats(), args.json)
    except MixloadTimeout:
        print(f"mixload_client: no reply from {args.endpoint} within {args.retries + 1} x {args.timeout_ms} ms "
              f"(is `mixload serve` running there? CURVE needs --server-key)", file=sys.stderr)
        return 1
    except MixloadError as e:
        hint = " (pass the service's world with --world)" if args.command == "hello" and "world" in e.message else ""
        print(f"mixload_client: {args.command} failed: {e}{hint}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
