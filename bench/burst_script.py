"""The script of bench/burst.py, as a process of its own: it imports `core` from its working
directory (the checkout being measured, its HTTP client included), pauses then unpauses the
first N instances by id, one request after another, waits for them all (bench/fleet.py's
bulk_pauses), and prints JSON: requests per second and its own CPU seconds.
  python bench/burst_script.py SOCKET N"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())   # the measured checkout's core, not this file's

from core.cli import attach  # noqa: E402


def main() -> None:
    socket_path, n = sys.argv[1], int(sys.argv[2])
    script = attach(f"unix:{socket_path}", False)
    try:
        uuids = sorted(i["uuid"] for i in script.instances())[:n]
        cpu, rates = time.process_time(), {}
        for action in ("pause", "unpause"):
            t = time.perf_counter()
            requests = [script.request(action, u) for u in uuids]
            for r in requests:
                script.wait(r, 600)
            rates[action] = len(uuids) / (time.perf_counter() - t)
        print(json.dumps({"rate": rates["pause"], "cpu": time.process_time() - cpu}))
    finally:
        script.close()


if __name__ == "__main__":
    main()
