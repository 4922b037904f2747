"""The script of bench/burst.py, as a process of its own: it imports `core` from its working
directory (the checkout being measured, its HTTP client included), pauses then unpauses the
first N instances by id, one request after another from each of SENDERS threads (1 when
not given), waits for them all (bench/fleet.py's bulk_pauses), and prints JSON: requests per
second and its own CPU seconds.
  python bench/burst_script.py SOCKET N [SENDERS]"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())   # the measured checkout's core, not this file's

from core.cli import attach  # noqa: E402  (first: bench.fleet below puts its own root first)

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.fleet import bulk_pauses  # noqa: E402


def main() -> None:
    socket_path, n = sys.argv[1], int(sys.argv[2])
    senders = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    script = attach(f"unix:{socket_path}", False)
    try:
        uuids = sorted(i["uuid"] for i in script.instances())[:n]
        cpu = time.process_time()
        rate = bulk_pauses(script, uuids, senders)   # pauses, then unpauses: 2 x n requests
        print(json.dumps({"rate": rate, "cpu": time.process_time() - cpu}))
    finally:
        script.close()


if __name__ == "__main__":
    main()
