"""A process whose RSS grows at a known rate: argv[1] MB per minute, for argv[2] seconds."""

import sys
import time

rate_mb_min, duration = float(sys.argv[1]), float(sys.argv[2])
step = 0.1
chunk = int(rate_mb_min * 1e6 / 60 * step)
kept = []
start = time.monotonic()
while time.monotonic() - start < duration:
    if chunk:
        kept.append(b"x" * chunk)  # written, so resident
    time.sleep(step)
