"""qi-load against llama.cpp's ``llama-server``: its TPOT and tokens/s next to the server's own.

On demand only (never in CI): needs the server and model built once per machine by
``../shared/real-llm/build.sh`` (about 20 minutes on 2 cores). The benchmark

1. starts ``llama-server`` with ``start.sh`` on a free loopback port (``--parallel`` slots,
   ``--threads`` compute threads, ``-lv 5`` so that its log holds every chunk it writes),
   or uses a running one (``--host``; its log and PID are found from ``start.sh``'s files
   or given with ``--server-log`` / ``--server-pid``);
2. sends one short calibration request and finds it in the server log: the log's clock
   (``--log-timestamps``: wall-clock microseconds since the server started) becomes wall time;
3. runs ``qi-load run SCENARIO --host URL --monitor-pid PID`` (default the quick ladder)
   while ``scrape_metrics.sh`` samples ``/metrics`` every 2 s;
4. compares, per request, ``requests.csv``'s ``tpot_ms`` with the server's own, and per
   stage the output tokens/s of qi-load with the ``tokens_predicted_total`` counter.

    .venv/bin/python benchmarks/real_llm.py [SCENARIO] [--parallel 4] [--threads 1] \
        [--host URL] [--out DIR] [--tolerance-ms 0.1] [-- QI-LOAD-RUN-ARGS ...]
    .venv/bin/python benchmarks/real_llm.py --reanalyze DIR     # the analysis alone, again

Like with like. qi-load's TPOT is ``(t_last - t_first) / (N - 1)``, N =
``usage.completion_tokens``, with ``t_first``/``t_last`` the arrivals of the first and last
token-bearing events. llama-server's ``predicted_per_token_ms`` (and the ``eval time`` line
of its log) is ``(t_gen_last - t_prompt_last) / (n_gen - 1)``: ``t_prompt_last`` is stamped
when the *first* token is sampled, ``t_gen_last`` when the last one is, and ``n_gen`` is the
``completion_tokens`` of its usage (``server_slot_stats`` in ``tools/server/server-common.h``,
stamped in ``server-context.cpp`` after ``common_sampler_sample``). Both are the same N - 1
intervals between the same two tokens, seen at the server's sampling instants and at the
client's arrival instants, so per request ``client - server = (d_last - d_first) / (N - 1)``
where ``d`` is each token's delivery delay (HTTP thread, socket, client read). Exceptions:
a first token whose text is held back (it ends inside a UTF-8 character) arrives with the
second, and an end-of-generation token streams no text, so the client's ``t_last`` is one
token early; both show as a difference of about one inter-token gap / (N - 1). So with the
chunk log the same formula is also applied to the server's writes of the first and last
chunk with content: what differs from that is the network and the client alone.

Joining rows: ``requests.csv`` keeps no id the server knows, so each row (with
``output_tokens`` = N) is paired with the logged request of the same N whose first token
(first content chunk written; without the chunk log, ``print_timing`` time - eval ms) and
end (usage chunk written; else the ``print_timing`` time) are nearest to the row's first
token (``ts_start + ttft``) and end (``ts_start + e2e``); when the row has ``srv_llm_ms``
(the client keeps llama.cpp's ``prompt_ms + predicted_ms``), only logged requests with the
same value are candidates. Pairs are taken cheapest first,
each row and each logged request once. A pair is *ambiguous* when another candidate costs
less than ``AMBIGUOUS_MS`` more; those share start and end within milliseconds, so their
server TPOTs are the same to within that span / (N - 1).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, Children, machine_facts, percentile, print_table, write_json

__all__ = [
    "ClientRequest",
    "ServerRequest",
    "compare_tpot",
    "join",
    "tokens_per_stage",
]

QI_LOAD = [PYTHON, "-m", "qi_load"]
REAL_LLM_DIR = ROOT.parent / "shared" / "real-llm"
RUNTIME = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qi-real-llm"
MAX_GAP_S = 1.0
"""A logged request further than this from a row (first token plus end) is never its pair."""
AMBIGUOUS_MS = 5.0
LLM_MS_MATCH = 0.02
"""Most a row's ``srv_llm_ms`` may differ from a logged request's own (the log rounds to
0.01 ms): when both are known, only requests that agree are candidates."""
READY = re.compile(r"READY pid=(?P<pid>\d+) url=(?P<url>\S+) .*log=(?P<log>\S+)")
PROTOCOL_OK = ("none", "quality")
"""error_kind values of requests the server completed (a wrong answer is still served)."""


@dataclass(frozen=True)
class ClientRequest:
    """One ``requests.csv`` row, in wall seconds."""

    row: int
    first: float
    end: float
    tokens: int
    tpot_ms: float
    srv_llm_ms: float | None = None
    """llama.cpp's ``prompt_ms + predicted_ms`` as the client recorded it (``srv_llm_ms``)."""


@dataclass(frozen=True)
class ServerRequest:
    """One request as llama-server logged it, times already converted to wall seconds."""

    first: float
    """Its first token: the write of its first content chunk, else when it was sampled."""
    end: float
    """Its end: the write of ``data: [DONE]``, else its ``print_timing`` line."""
    gen_n: int
    eval_ms: float
    """``predicted_ms``: from sampling the first token to sampling the last."""
    sent_tpot_ms: float | None = None
    """qi-load's formula at the server's writes: (last - first content chunk) / (n - 1)."""
    llm_ms: float | None = None
    """``prompt_ms + predicted_ms``: the client's ``srv_llm_ms`` of the same request."""

    @property
    def tpot_ms(self) -> float:
        """``predicted_per_token_ms``: eval ms over the ``n_gen - 1`` decode steps."""
        return self.eval_ms / (self.gen_n - 1)


@dataclass(frozen=True)
class Pair:
    client: ClientRequest
    server: ServerRequest
    cost_ms: float
    ambiguous: bool

    @property
    def diff_ms(self) -> float:
        return self.client.tpot_ms - self.server.tpot_ms

    @property
    def sent_diff_ms(self) -> float | None:
        sent = self.server.sent_tpot_ms
        return None if sent is None else self.client.tpot_ms - sent


def _cost_s(c: ClientRequest, s: ServerRequest) -> float:
    return abs(c.first - s.first) + abs(c.end - s.end)


def join(clients: Sequence[ClientRequest], servers: Sequence[ServerRequest]) -> list[Pair]:
    """Pair rows with logged requests of the same token count, nearest first token and end."""
    by_n: dict[int, list[int]] = {}
    for j, s in enumerate(servers):
        by_n.setdefault(s.gen_n, []).append(j)
    candidates: list[tuple[float, int, int]] = []
    for i, c in enumerate(clients):
        for j in by_n.get(c.tokens, ()):
            s = servers[j]
            known = c.srv_llm_ms is not None and s.llm_ms is not None
            if known and abs((c.srv_llm_ms or 0.0) - (s.llm_ms or 0.0)) > LLM_MS_MATCH:
                continue
            cost = _cost_s(c, s)
            if cost <= MAX_GAP_S:
                candidates.append((cost, i, j))
    candidates.sort()
    # Each row's and each logged request's candidates, cheapest first: the margin of a
    # choice is how much more the cheapest alternative of either side would have cost.
    options: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for cost, i, j in candidates:
        options.setdefault(("c", i), []).append((cost, j))
        options.setdefault(("s", j), []).append((cost, i))

    def alternative(key: tuple[str, int], chosen: int) -> float:
        return next((cost for cost, other in options[key] if other != chosen), math.inf)

    used_c: set[int] = set()
    used_s: set[int] = set()
    pairs = []
    for cost, i, j in candidates:
        if i in used_c or j in used_s:
            continue
        used_c.add(i)
        used_s.add(j)
        margin = min(alternative(("c", i), j), alternative(("s", j), i)) - cost
        pairs.append(Pair(clients[i], servers[j], cost * 1000.0, margin * 1000.0 < AMBIGUOUS_MS))
    return sorted(pairs, key=lambda p: p.client.row)


def _stats(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "mean": round(sum(values) / len(values), 4),
        "p5": round(percentile(values, 0.05), 4),
        "p50": round(percentile(values, 0.5), 4),
        "p95": round(percentile(values, 0.95), 4),
        "p99": round(percentile(values, 0.99), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def _agreement(diffs: Sequence[float], tolerance_ms: float) -> dict[str, Any]:
    within = sum(abs(d) <= tolerance_ms for d in diffs)
    return {
        "n": len(diffs),
        "within": within,
        "within_fraction": round(within / len(diffs), 4) if diffs else None,
        "diff_ms": _stats(diffs),
        "abs_diff_ms": _stats([abs(d) for d in diffs]),
    }


def compare_tpot(pairs: Sequence[Pair], tolerance_ms: float) -> dict[str, Any]:
    """qi-load's TPOT against the server's own, and against the server's chunk writes."""
    sent = [p for p in pairs if p.sent_diff_ms is not None]
    outside = sorted(
        (p for p in pairs if abs(p.diff_ms) > tolerance_ms), key=lambda p: -abs(p.diff_ms)
    )

    def ms(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        "tolerance_ms": tolerance_ms,
        "pairs": len(pairs),
        "ambiguous": sum(p.ambiguous for p in pairs),
        # The criterion: qi-load against predicted_per_token_ms.
        "vs_own": _agreement([p.diff_ms for p in pairs], tolerance_ms),
        "vs_own_unambiguous": _agreement(
            [p.diff_ms for p in pairs if not p.ambiguous], tolerance_ms
        ),
        # Like with like: qi-load's formula at the server's writes of the same chunks.
        "vs_sent": _agreement([p.sent_diff_ms or 0.0 for p in sent], tolerance_ms),
        # Inside the server: the chunks' TPOT minus the sampled tokens' TPOT.
        "sent_minus_own_ms": _stats(
            [(p.server.sent_tpot_ms or 0.0) - p.server.tpot_ms for p in sent]
        ),
        "server_tpot_ms": _stats([p.server.tpot_ms for p in pairs]),
        "client_tpot_ms": _stats([p.client.tpot_ms for p in pairs]),
        "tokens": _stats([float(p.client.tokens) for p in pairs]),
        # Client arrival minus the server's instant (plus the log clock calibration's error,
        # the same for every request), for the first token and for the end.
        "first_delivery_ms": _stats([(p.client.first - p.server.first) * 1e3 for p in pairs]),
        "end_delivery_ms": _stats([(p.client.end - p.server.end) * 1e3 for p in pairs]),
        "join_cost_ms": _stats([p.cost_ms for p in pairs]),
        "worst": [
            {
                "row": p.client.row,
                "tokens": p.client.tokens,
                "client_tpot_ms": ms(p.client.tpot_ms),
                "server_tpot_ms": ms(p.server.tpot_ms),
                "sent_tpot_ms": ms(p.server.sent_tpot_ms),
                "diff_ms": ms(p.diff_ms),
                "sent_diff_ms": ms(p.sent_diff_ms),
                "first_delivery_ms": round((p.client.first - p.server.first) * 1e3, 2),
                "end_delivery_ms": round((p.client.end - p.server.end) * 1e3, 2),
                "ambiguous": p.ambiguous,
            }
            for p in outside[:10]
        ],
    }


def tokens_per_stage(
    stages: Sequence[dict[str, Any]],
    metrics: Sequence[tuple[float, float]],
    ends: Sequence[tuple[float, int]],
) -> list[dict[str, Any]]:
    """Output tokens/s per stage window: the server's counter and qi-load's rows, same interval.

    ``metrics``: (wall, tokens_predicted_total) samples; ``ends``: (wall end, output tokens)
    of every request the server completed. llama-server adds a request's tokens to its
    counter when the request ends (``metrics_on_prediction`` at slot reset), so both sides
    count the requests that ended between the two samples nearest to the window's edges.
    """
    out = []
    for stage in stages:
        w0, w1 = stage["window_start"], stage["window_end"]
        if not metrics or w0 is None or w1 is None:
            continue
        a = min(metrics, key=lambda m: abs(m[0] - w0))
        b = min(metrics, key=lambda m: abs(m[0] - w1))
        seconds = b[0] - a[0]
        if seconds <= 0:
            continue
        server = b[1] - a[1]
        client = sum(n for t, n in ends if a[0] < t <= b[0])
        report = stage["overall"]["output_tokens_per_s"]
        out.append(
            {
                "stage": stage["name"],
                "users": stage["users"],
                "interval_s": round(seconds, 2),
                "server_tokens": int(server),
                "qi_load_tokens": client,
                "server_tokens_per_s": round(server / seconds, 1),
                "qi_load_tokens_per_s": round(client / seconds, 1),
                "diff_pct": round(100.0 * (client - server) / server, 2) if server else None,
                "report_tokens_per_s": round(report, 1) if report is not None else None,
            }
        )
    return out


# -- inputs ----------------------------------------------------------------------------------


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def read_clients(requests_csv: Path) -> tuple[list[ClientRequest], list[tuple[float, int]]]:
    """Rows with a TPOT to compare, and (end, tokens) of every request the server completed."""
    clients, ends = [], []
    with requests_csv.open(newline="", encoding="utf-8") as f:
        for row_no, row in enumerate(csv.DictReader(f), start=2):
            if row.get("error_kind") not in PROTOCOL_OK or row.get("query_type") == "mcp":
                continue
            start, ttft = _float(row["ts_start"]), _float(row["ttft_ms"])
            e2e, tokens = _float(row["e2e_ms"]), _float(row["output_tokens"])
            if start is None or e2e is None or tokens is None:
                continue
            ends.append((start + e2e / 1000.0, int(tokens)))
            tpot = _float(row["tpot_ms"])
            if tpot is None or ttft is None or row.get("tokens_source") != "usage":
                continue
            clients.append(
                ClientRequest(
                    row_no, start + ttft / 1000.0, start + e2e / 1000.0, int(tokens), tpot
                )
            )
    return clients, ends


def read_servers(timings_csv: Path, offset_s: float) -> list[ServerRequest]:
    """``server_timings.py --csv`` rows (log seconds) as wall-time requests of >= 2 tokens."""
    out = []
    with timings_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if int(row["gen_n"]) < 2:
                continue
            end, eval_ms = float(row["t"]) + offset_s, float(row["eval_ms"])
            llm = float(row["prompt_ms"]) + eval_ms
            first = end - eval_ms / 1000.0
            out.append(ServerRequest(first, end, int(row["gen_n"]), eval_ms, llm_ms=llm))
    return out


LOG_ENTRY = re.compile(rb"^(\d+)\.(\d{2})\.(\d{3})\.(\d{3}) ")
CHUNK = b" http: streamed chunk: "


def _log_entries(log: Path) -> list[tuple[float, bytes]]:
    """(log seconds, text) of each ``streamed chunk`` entry (a chunk's SSE lines follow it)."""
    entries: list[tuple[float, bytes]] = []
    current: list[bytes] | None = None
    with log.open("rb") as f:
        for line in f:
            match = LOG_ENTRY.match(line)
            if match:
                current = None
                if CHUNK in line:
                    m, sec, ms, us = (int(g) for g in match.groups())
                    current = [line.split(CHUNK, 1)[1]]
                    entries.append((m * 60 + sec + ms / 1e3 + us / 1e6, b""))
            elif current is not None:
                current.append(line)
            if current is not None:
                entries[-1] = (entries[-1][0], b"".join(current))
    return entries


def read_streams(log: Path, offset_s: float) -> list[ServerRequest]:
    """Requests from the chunks the server logged as written (``-lv 5``), with their usage.

    ``first``/``last`` are the writes of the first and last chunks whose delta has non-empty
    ``content`` (what qi-load counts as token-bearing), ``end`` the write of the usage chunk.
    """
    seen: dict[str, dict[str, Any]] = {}
    for t, text in _log_entries(log):
        for line in text.decode("utf-8", "replace").splitlines():
            if not line.startswith("data: {"):
                continue
            obj = json.loads(line[6:])
            stream = seen.setdefault(obj.get("id", ""), {})
            if any((c.get("delta") or {}).get("content") for c in obj.get("choices") or ()):
                stream.setdefault("first", t)
                stream["last"] = t
            if "timings" in obj:
                stream.update(end=t, timings=obj["timings"], usage=obj.get("usage") or {})
    out = []
    for stream in seen.values():
        timings, n = stream.get("timings"), (stream.get("usage") or {}).get("completion_tokens")
        if timings is None or "first" not in stream or not isinstance(n, int) or n < 2:
            continue
        sent_tpot = (stream["last"] - stream["first"]) * 1000.0 / (n - 1)
        predicted, prompt = float(timings["predicted_ms"]), timings.get("prompt_ms")
        out.append(
            ServerRequest(
                first=stream["first"] + offset_s,
                end=stream["end"] + offset_s,
                gen_n=n,
                eval_ms=predicted,
                sent_tpot_ms=sent_tpot,
                llm_ms=None if prompt is None else float(prompt) + predicted,
            )
        )
    return out


def read_metrics(tsv: Path) -> list[tuple[float, float]]:
    """``scrape_metrics.sh`` samples: (wall, tokens_predicted_total), unreadable ones skipped."""
    out = []
    with tsv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            ts, total = _float(row["ts"] or ""), _float(row["predicted_total"] or "")
            if ts is not None and total is not None:
                out.append((ts, total))
    return out


# -- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    port: str
    pid: int
    log: Path
    started: bool
    """Started by this benchmark (then it also stops it)."""


def start_server(scripts: Path, parallel: int, threads: int, niceness: int) -> Server:
    """``start.sh`` on a free port, ``threads`` compute threads, logging every chunk it writes."""
    port = str(_free_port())
    extra = f"{os.environ.get('EXTRA_ARGS', '')} -lv 5".strip()
    done = subprocess.run(
        ["nice", "-n", str(niceness), "bash", str(scripts / "start.sh"), port, str(parallel)],
        env={**os.environ, "THREADS": str(threads), "EXTRA_ARGS": extra},
        capture_output=True,
        text=True,
        check=False,
    )
    match = READY.search(done.stdout)
    if done.returncode != 0 or not match:
        raise SystemExit(f"start.sh failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    print(done.stdout.strip(), flush=True)
    return Server(match["url"], port, int(match["pid"]), Path(match["log"]), started=True)


def running_server(url: str, log: Path | None, pid: int | None) -> Server:
    """A server already running at ``url``; log and PID default to ``start.sh``'s files."""
    url = url.rstrip("/")
    port = url.rsplit(":", 1)[-1]
    log = log or RUNTIME / f"llama-server-{port}.log"
    pid = pid or int((RUNTIME / f"llama-server-{port}.pid").read_text())
    return Server(url, port, pid, log, started=False)


def stop_server(server: Server) -> None:
    if server.started:
        os.kill(server.pid, 15)
        (RUNTIME / f"llama-server-{server.port}.pid").unlink(missing_ok=True)


def calibrate(url: str, log: Path, from_line: int, scripts: Path, out: Path) -> dict[str, Any]:
    """One streamed request; its wall end minus its log time is the log clock's offset."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {
            "model": "calibration",
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "calibration"}],
        }
    )
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    raw = conn.getresponse().read()
    wall_end = time.time()
    conn.close()
    usage_timings: dict[str, Any] = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if line.startswith("data: {") and '"timings"' in line:
            usage_timings = json.loads(line[6:]).get("timings", {})
    timings_csv = out / "calibration_timings.csv"
    deadline = time.monotonic() + 10
    while True:
        _server_timings(scripts, log, from_line, timings_csv)
        with timings_csv.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if len(rows) != 1:
        raise SystemExit(f"calibration: expected 1 logged request in {log}, found {len(rows)}")
    return {
        "wall_end": wall_end,
        "log_t": float(rows[0]["t"]),
        "offset_s": wall_end - float(rows[0]["t"]),
        "log_eval_ms": float(rows[0]["eval_ms"]),
        "usage_timings": usage_timings,
    }


def _server_timings(scripts: Path, log: Path, from_line: int, out_csv: Path) -> None:
    command = [PYTHON, str(scripts / "server_timings.py"), str(log), "--from-line", str(from_line)]
    subprocess.run(
        [*command, "--csv", str(out_csv)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _monitor_args(pid: int) -> tuple[list[str], list[str]]:
    """``--monitor-pid`` for ``qi-load run`` if it has one, else Locust's plugin option."""
    help_text = subprocess.run(
        [*QI_LOAD, "run", "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--monitor-pid" in help_text:
        return ["--monitor-pid", str(pid)], []
    return [], ["--monitor-pid", str(pid)]


# -- main ------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, out: Path) -> None:
    """Start (or find) the server, calibrate, run the scenario; leave the inputs in ``out``."""
    scripts: Path = args.real_llm_dir
    if args.host:
        server = running_server(args.host, args.server_log, args.server_pid)
    else:
        server = start_server(scripts, args.parallel, args.threads, args.server_nice)
    try:
        with Children() as children:
            facts = _measure(args, out, server, children)
    finally:
        stop_server(server)
    write_json(out / "measure.json", facts)


def _measure(
    args: argparse.Namespace, out: Path, server: Server, children: Children
) -> dict[str, Any]:
    scripts: Path = args.real_llm_dir
    first_line = _line_count(server.log)
    calibration = calibrate(server.url, server.log, first_line, scripts, out)
    print(f"calibration: log clock + {calibration['offset_s']:.4f} s = wall", flush=True)
    run_from = _line_count(server.log)
    # A day's duration: the scraper is stopped by PID when the run ends.
    scrape_command = ["bash", str(scripts / "scrape_metrics.sh"), server.port, "86400"]
    scrape = children.start([*scrape_command, str(out / "metrics.tsv")], out / "scrape.log")
    own, passthrough = _monitor_args(server.pid)
    extra = list(args.qi_load_args)
    if passthrough:
        extra += passthrough if "--" in extra else ["--", *passthrough]
    command = [*QI_LOAD, "run", args.scenario, "--host", server.url, "--out", str(out)]
    command += ["--run-id", "run", *own, *extra]
    print(f"$ qi-load {' '.join(command[3:])}", flush=True)
    load_before = os.getloadavg()
    t0 = time.time()
    with (out / "qi-load.log").open("wb") as log:
        rc = subprocess.run(command, check=False, stdout=log, stderr=log).returncode
    seconds = time.time() - t0
    time.sleep(3)  # one more /metrics sample after the last request ended
    children.stop(scrape)
    with server.log.open("rb") as src, (out / "server.log").open("wb") as dst:
        dst.writelines(line for n, line in enumerate(src) if n >= first_line)
    _server_timings(scripts, server.log, run_from, out / "server_timings.csv")
    return {
        "command": " ".join(command[3:]),
        "exit_code": rc,
        "seconds": round(seconds, 1),
        "server": {"url": server.url, "pid": server.pid, "log": str(server.log)},
        "parallel": None if args.host else args.parallel,
        "threads": None if args.host else args.threads,
        "niceness": {"benchmark": os.nice(0), "server": None if args.host else args.server_nice},
        "calibration": calibration,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine_facts(),
    }


def analyze(out: Path, tolerance_ms: float) -> dict[str, Any]:
    """Compare what ``measure`` left in ``out``."""
    facts = json.loads((out / "measure.json").read_text(encoding="utf-8"))
    offset = facts["calibration"]["offset_s"]
    run_dir = out / "run"
    clients, ends = read_clients(run_dir / "requests.csv")
    servers = read_streams(out / "server.log", offset) or read_servers(
        out / "server_timings.csv", offset
    )
    pairs = join(clients, servers)
    tpot = compare_tpot(pairs, tolerance_ms)
    tpot["client_rows"] = len(clients)
    tpot["server_requests"] = len(servers)
    summary_path = run_dir / "summary.json"
    stages = json.loads(summary_path.read_text())["stages"] if summary_path.exists() else []
    metrics = read_metrics(out / "metrics.tsv")
    per_stage = tokens_per_stage(stages, metrics, ends)
    whole = tokens_per_stage(
        [
            {
                "name": "whole run",
                "users": None,
                "window_start": metrics[0][0] if metrics else None,
                "window_end": metrics[-1][0] if metrics else None,
                "overall": {"output_tokens_per_s": None},
            }
        ],
        metrics,
        ends,
    )
    result = {
        **facts,
        "tpot": tpot,
        "tokens_per_s": per_stage + whole,
        "met": (tpot["vs_own"]["within_fraction"] or 0.0) >= 0.95,
    }
    write_json(out / "real_llm.json", result)
    return result


def _print(result: dict[str, Any]) -> None:
    t = result["tpot"]
    print(f"\nqi-load exit code {result['exit_code']}; machine {result['machine']}")
    print(
        f"TPOT: {t['client_rows']} rows with a TPOT, {t['server_requests']} logged requests, "
        f"{t['pairs']} pairs ({t['ambiguous']} ambiguous)"
    )
    for key, label in (
        ("vs_own", "against predicted_per_token_ms"),
        ("vs_own_unambiguous", "the same, unambiguous pairs"),
        ("vs_sent", "against the server's chunk writes"),
    ):
        a = t[key]
        print(
            f"  {label}: {a['within']} of {a['n']} within ±{t['tolerance_ms']} ms "
            f"({a['within_fraction']})"
        )
    rows = [["qi-load - own", *t["vs_own"]["diff_ms"].values()]]
    if t["vs_sent"]["n"]:
        rows.append(["qi-load - sent", *t["vs_sent"]["diff_ms"].values()])
        rows.append(["sent - own", *t["sent_minus_own_ms"].values()])
    keys = ["server_tpot_ms", "client_tpot_ms", "tokens"]
    keys += ["first_delivery_ms", "end_delivery_ms", "join_cost_ms"]
    rows += [[k, *t[k].values()] for k in keys if t[k]]
    print_table(["ms", "mean", "p5", "p50", "p95", "p99", "min", "max"], rows)
    for worst in t["worst"]:
        print(f"  outside: {worst}")
    stages = result["tokens_per_s"]
    if stages:
        print("\noutput tokens/s (same interval, requests ended in it)")
        print_table(list(stages[0]), [list(r.values()) for r in stages])
    verdict = "met" if result["met"] else "NOT met"
    print(f"\ncriterion (>= 95 % within ±{t['tolerance_ms']} ms of the server's own): {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="quick-ladder")
    parser.add_argument("--parallel", type=int, default=4, help="server slots (-np), default 4")
    parser.add_argument("--threads", type=int, default=1, help="server compute threads")
    parser.add_argument(
        "--server-nice",
        type=int,
        default=0,
        help="start the server this much nicer than the benchmark (the client's timestamps "
        "suffer when the client waits for a CPU; the server's own do not)",
    )
    parser.add_argument("--host", help="a running llama-server instead of starting one")
    parser.add_argument("--server-log", type=Path, help="its log (with --host)")
    parser.add_argument("--server-pid", type=int, help="its PID (with --host)")
    parser.add_argument("--real-llm-dir", type=Path, default=REAL_LLM_DIR)
    parser.add_argument("--out", type=Path, help="default reports/real-llm-<time>")
    parser.add_argument("--tolerance-ms", type=float, default=0.1)
    parser.add_argument("--reanalyze", type=Path, metavar="DIR", help="analyze DIR again")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.qi_load_args = argv[cut + 1 :]  # more `qi-load run` arguments
    if args.reanalyze:
        _print(analyze(args.reanalyze, args.tolerance_ms))
        return 0
    for script in ("start.sh", "server_timings.py", "scrape_metrics.sh"):
        if not (args.real_llm_dir / script).is_file():
            print(f"real_llm: {args.real_llm_dir / script} not found; pass --real-llm-dir")
            return 2
    out = args.out or ROOT / "reports" / time.strftime("real-llm-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    measure(args, out)
    result = analyze(out, args.tolerance_ms)
    _print(result)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
