"""Stand-alone master side of the sample port for tests: prints each batch as a JSON line."""

from __future__ import annotations

import json
import signal
import sys
import time

from qi_load.monitor.sidecar import SampleReceiver


def main() -> None:
    receiver = SampleReceiver(sys.argv[1])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    print(json.dumps({"bound": receiver.endpoint}), flush=True)
    deadline = time.monotonic() + float(sys.argv[2]) if len(sys.argv) > 2 else float("inf")
    while not stopping and time.monotonic() < deadline:
        samples = receiver.recv(200)
        if samples:
            line = {
                "recv": time.time(),
                "ts": [s.ts for s in samples],
                "pids": [s.pid for s in samples],
                "roles": [s.role for s in samples],
                "rss": [s.rss_bytes for s in samples],
            }
            print(json.dumps(line), flush=True)
    receiver.close()


if __name__ == "__main__":
    main()
