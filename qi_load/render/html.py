"""``report.html``: one self-contained page (plots inlined, no scripts, no external requests)."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from qi_load.analyze.stages import QueryStats
from qi_load.analyze.summary import Summary
from qi_load.render.cells import triple_n, verdict_word
from qi_load.render.leak_findings import leak_findings, process_label
from qi_load.render.search_path import search_html
from qi_load.render.series import stage_note
from qi_load.render.sweep_rows import sweep_html
from qi_load.render.terminal import LATENCIES, capacity_text, verdict_line
from qi_load.render.traces import traces_html

__all__ = ["render_html"]

# The policy forbids scripts and every fetch but inline images, so even a string from the
# target that slipped past escaping could not run or phone home.
_CSP: Final = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE: Final = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1280px;color:#222;
 padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f5f5f5}
td.l,th.l{text-align:left}.warn{background:#fff4ce;border:1px solid #e0c45c;padding:8px 12px}
.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}
.not_judged{color:#9a6700;font-weight:bold}
.muted{color:#666}.bad{background:#ffebe9}.good{background:#dafbe1}
img{max-width:100%;border:1px solid #eee;margin:6px 0}code{background:#f5f5f5;padding:0 3px}
"""


_NONE: Final = "&ndash;"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _n(value: Any, digits: int = 3) -> str:
    if value is None:
        return _NONE
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return _e(value)


def _table(
    head: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 1, cls: Sequence[str] = ()
) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    body = []
    for r, row in enumerate(rows):
        row_cls = f' class="{cls[r]}"' if r < len(cls) and cls[r] else ""
        tds = "".join(
            f'<td class="{"l" if i < left else ""}">{cell}</td>' for i, cell in enumerate(row)
        )
        body.append(f"<tr{row_cls}>{tds}</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _quality(q: QueryStats) -> str:
    """Passed share of checked answers, with n (a dash when no answer was checked)."""
    rate = q["quality_rate"]
    return _NONE if rate is None else f"{rate:.0%} of {q['quality_checked']}"


def _retries(q: QueryStats) -> str:
    """Requests resent on a fresh connection, with their share of all requests."""
    return f"{q['retries']} ({q['retry_rate']:.1%})" if q["retries"] else "0"


def _quality_section(s: Summary) -> str:
    """Per query type: the quality rate and which checks ran (on every answer, or only on
    answers whose response came from the reference agent) or were skipped."""
    info = s["quality"]
    mode = info["mode"] or "not recorded"
    ref = {True: "yes", False: "no", None: "not recorded"}[info["reference_agent"]]
    rows, cls = [], []
    for name in dict.fromkeys([*s["per_type"], *info["checks"]]):
        q, plan = s["per_type"].get(name), info["checks"].get(name)
        rate = q["quality_rate"] if q else None
        rows.append([
            _e(name), _n(q["quality_checked"] if q else 0), _n(q["quality_passed"] if q else 0),
            _quality(q) if q else _NONE,
            _e(", ".join(plan["ran"]) or "none") if plan else _NONE,
            _e(", ".join(plan["reference_only"]) or "none") if plan else _NONE,
            _e(", ".join(plan["skipped"]) or "none") if plan else _NONE,
        ])  # fmt: skip
        cls.append("bad" if rate is not None and rate < 1.0 else "")
    head = [
        "query type", "checked", "passed", "quality", "checks run",
        "only on reference-agent answers", "skipped",
    ]  # fmt: skip
    return (
        "<h2>Answer quality (valid stages pooled)</h2>"
        f"<p>Checks mode <code>{_e(mode)}</code> · target declared to be the reference agent: "
        f"{ref}. Latency and throughput count every protocol-successful request whatever its "
        "answer; goodput only those that passed their checks (or had none). Checks tied to "
        "the reference agent's files and tools run on every answer when it was declared, "
        "otherwise only on answers whose response identified it (<code>x-qi-load-agent: "
        "reference</code>).</p>" + _table(head, rows, cls=cls)
    )


def _query_rows(named: Mapping[str, QueryStats]) -> list[list[str]]:
    rows = []
    for name, q in named.items():
        rows.append([
            _e(name), _n(q["n"]), _n(q["throughput_rps"]), _n(q["goodput_rps"]),
            f"{q['error_rate']:.1%}", _retries(q), _quality(q), _n(q["ttft_ms"]["p50"]),
            _n(q["ttft_ms"]["p95"]), _n(q["ttfc_ms"]["p50"]), _n(q["ttfc_ms"]["p95"]),
            _n(q["e2e_ms"]["p50"]), _n(q["e2e_ms"]["p95"]),
            _n(q["e2e_ms"]["p99"]) + (" *" if q["e2e_ms"]["p99_flagged"] and q["e2e_ms"]["n"]
                                      else ""),
            _n(q["e2e_ms"]["max"]), _n(q["tpot_ms"]["p50"]), _n(q["output_tokens_per_s"]),
            _e(", ".join(f"{k} {v}" for k, v in q["errors_by_kind"].items()) or "-"),
        ])  # fmt: skip
    return rows


_QUERY_HEAD: Final = [
    "", "n", "req/s", "goodput/s", "errors", "retries", "quality", "TTFT p50", "TTFT p95",
    "TTFC p50", "TTFC p95", "E2E p50", "E2E p95",
    "E2E p99", "E2E max", "TPOT p50", "tokens/s", "errors by kind",
]  # fmt: skip


def _capacity(s: Summary) -> str:
    """The headline: capacity overall and per query type, and where each first failed."""
    cap, req = s["capacity"], s["requirement"]
    rows = [
        [_e(qt), _n(c["users"]), _n(c["above_users"]), _e(c["status"].replace("_", " ")),
         _e(c["detail"])]
        for qt, c in cap["per_type"].items()
    ]  # fmt: skip
    verdict = verdict_line(s).split(" | ")[1]
    return (
        f"<h2>{_e(capacity_text(s))}</h2><p>{_e(cap['detail'])}</p>"
        f"<p><b>{_e(verdict)}</b>: {_e(req['detail'])}</p>"
        + _table(
            ["query type", "capacity (users)", "fails at", "status", "detail"],
            rows,
            cls=["bad" if c["status"] == "below_lowest" else "" for c in cap["per_type"].values()],
        )
        + "<p class='muted'>Capacity: the most users of a ladder stage at which every SLO "
        "held (quality included), every lower stage too; the true capacity lies between it "
        "and the stage where an SLO first failed. Stages with fewer than 20 requests, and SLOs "
        "of a query type with fewer than 5 values, are insufficient data: not judged.</p>"
    )


def _latency_rows(s: Summary) -> tuple[list[list[str]], list[str]]:
    """Per stage, all query types then each one: every latency's p50/p95/p99 with its n."""
    rows, cls = [], []
    for st in s["stages"]:
        for name, q in {"all": st["overall"], **st["per_type"]}.items():
            rows.append([
                _e(st["name"]) if name == "all" else "", _n(st["users"]) if name == "all" else "",
                _e(name), _n(q["n"]), _n(q["throughput_rps"]), _n(q["output_tokens_per_s"]),
                *(_e(triple_n(q[key])) for _, key in LATENCIES),
            ])  # fmt: skip
            cls.append("" if name == "all" else "muted")
    return rows, cls


def _knee_head(users: int | None, status: str) -> str:
    return f"{users} users" if users is not None else status.replace("_", " ")


def _findings(s: Summary) -> str:
    d = s["degradation"]
    sat = d["first_saturated"]
    knee, limit = d["knee"], d["scalability_limit"]
    items = [
        f"<b>Knee:</b> {_e(_knee_head(knee['users'], knee.get('status', 'none')))}"
        f" — {_e(knee['detail'])}",
        f"<b>Scalability limit:</b> {_e(limit['users'] if limit['users'] is not None else 'n/a')}"
        f" users — {_e(limit['detail'])}",
        f"<b>First saturated resource:</b> {_e(sat['resource'] or 'none')}"
        + (f" at {_e(sat['users'])} users" if sat["users"] is not None else "")
        + f" — {_e(sat['evidence'])}",
        *(f"<b>{_e(title)}:</b> {text}" for title, text in leak_findings(s["leaks"], _e)),
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _comparison(s: Summary) -> str:
    c = s["comparison"]
    if c is None:
        return ""
    rows = [
        [_e(r["metric"]), _e(r["scope"]), _n(r["base"]), _n(r["current"]),
         _NONE if r["change"] is None else f"{r['change']:+.1%}",
         _NONE if r["ci_low"] is None else f"{r['ci_low']:+.1%} … {r['ci_high']:+.1%}",
         f"{r['n_base']} / {r['n_current']}", _e(r["severity"])]
        for r in c["rows"]
    ]  # fmt: skip
    cls = ["bad" if r["severity"] in ("critical", "warning") else "" for r in c["rows"]]
    head = [
        "metric",
        "scope",
        "baseline",
        "current",
        "change (+ = worse)",
        "95% CI",
        "n",
        "verdict",
    ]
    return (
        f"<h2>Regression against {_e(c['base'])}</h2>"
        f"<p>Worst: <b>{_e(c['worst'])}</b>, {c['inconclusive']} inconclusive "
        f"(warning ≥ {c['settings']['warn']:.0%}, "
        f"critical ≥ {c['settings']['critical']:.0%}, CI must exclude zero)</p>"
        + _table(head, rows, left=2, cls=cls)
    )


def render_html(summary: Summary, images: Mapping[str, bytes]) -> str:
    """The whole page; every string that came from the run directory is escaped."""
    s = summary
    run = s["run"]
    check = s["check"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>qi-load report {_e(run['run_id'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>qi-load report: {_e(run['run_id'])}</h1>",
        f"<p class='muted'>scenario <code>{_e(run['scenario'])}</code> · target "
        f"<code>{_e(run['target_url'])}</code> · status <b>{_e(run['status'])}</b> · "
        f"duration {_n(run['duration_s'])} s · {_e(s['generated_by'])}</p>",
    ]
    if s["warnings"]:
        parts.append(
            "<div class='warn'><b>Warnings</b><ul>"
            + "".join(f"<li>{_e(w)}</li>" for w in s["warnings"])
            + "</ul></div>"
        )
    verdict = f"<span class='{check['verdict']}'>{verdict_word(check)}</span>"
    parts.append(_capacity(s))
    parts.append(f"<h2>Verdict: {verdict}</h2>")
    if check["failures"]:
        parts.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in check["failures"]) + "</ul>")
    parts.append("<h2>Findings</h2>" + _findings(s))
    if "degradation" in images:
        parts.append(_img(images["degradation"], "degradation curves"))

    parts.append("<h2>Targets</h2>")
    grade_cls = {"fail": "bad", "stretch": "good", "target": "good"}
    parts.append(_table(
        ["metric", "value", "stretch", "target", "minimum", "grade", "basis"],
        [[_e(t["metric"]), f"{_n(t['value'])} {_e(t['unit'])}", _n(t["stretch"]), _n(t["target"]),
          _n(t["minimum"]), _e(t["grade"]), _e(t["basis"])] for t in s["targets"]],
        cls=[grade_cls.get(t["grade"], "") for t in s["targets"]],
    ))  # fmt: skip
    if s["slo_checks"]:
        where = s["requirement"]["stage"]
        parts.append(f"<h2>SLOs at {_e(where)}</h2>" if where else "<h2>SLOs per stage</h2>")
        parts.append(_table(
            ["query type", "SLO", "stage", "limit", "measured", "n", "verdict"],
            [[_e(c["query_type"]), _e(c["metric"]), _e(c.get("stage") or "pooled"),
              _n(c["limit"]), _n(c["value"]), _n(c.get("n")),
              _e(c.get("status", "").replace("_", " "))] for c in s["slo_checks"]],
            left=3, cls=["bad" if c["ok"] is False else "" for c in s["slo_checks"]],
        ))  # fmt: skip

    parts += [search_html(search)] if (search := s.get("search")) else []
    parts += [sweep_html(sweep, s["stages"])] if (sweep := s.get("sweep")) else []
    parts.append(_quality_section(s))
    if (traces := s.get("traces")) is not None:
        parts.append(traces_html(traces))
    parts.append("<h2>Stages (steady-state windows)</h2>")
    stage_rows = []
    for st in s["stages"]:
        o = st["overall"]
        roles = "; ".join(
            f"{_e(r)} CPU {v['cpu_mean']:.0f}/{v['cpu_peak']:.0f} %, RSS {v['rss_mean_mb']:.0f}/"
            f"{v['rss_peak_mb']:.0f} MB" for r, v in st["roles"].items()
        )  # fmt: skip
        stage_rows.append([
            _e(st["name"]), _n(st["users"]), _n(st["started"]), _n(st["cancelled"]),
            f"{st['window_s']:.0f} s", _n(o["n"]),
            _n(o["throughput_rps"]), _n(o["goodput_rps"]), f"{o['error_rate']:.1%}",
            _retries(o), _quality(o), _n(o["ttft_ms"]["p95"]), _n(o["ttfc_ms"]["p50"]),
            _n(o["ttfc_ms"]["p95"]), _n(o["e2e_ms"]["p50"]), _n(o["e2e_ms"]["p95"]),
            {True: "pass", False: "FAIL", None: _NONE}[st["slo_ok"]],
            _e(st["invalid"] or "valid"), _e(stage_note(st)), roles or _NONE,
        ])  # fmt: skip
    parts.append(_table(
        ["stage", "users", "started", "cancelled", "window", "n", "req/s", "goodput/s",
         "errors", "retries", "quality", "TTFT p95", "TTFC p50", "TTFC p95", "E2E p50",
         "E2E p95", "SLOs", "validity", "note",
         "resources (mean/peak)"],
        stage_rows, cls=["bad" if st["invalid"] else "" for st in s["stages"]],
    ))  # fmt: skip
    rows, cls = _latency_rows(s)
    parts.append("<h2>Latency per stage and query type (ms, p50/p95/p99 with n)</h2>")
    parts.append(_table(
        ["stage", "users", "query type", "n", "req/s", "out tok/s",
         *(f"{label} p50/p95/p99" for label, _ in LATENCIES)],
        rows, left=3, cls=cls,
    ))  # fmt: skip
    parts.append("<h2>Per query type (valid stages pooled)</h2>")
    parts.append(_table(_QUERY_HEAD, _query_rows({**s["per_type"], "all": s["overall"]})))
    parts.append(
        "<p class='muted'>Latencies in ms. * p99 over fewer than 100 samples. TTFT: first "
        "token of any kind (reasoning, tool calls); TTFC: first token of answer content, over "
        "requests that had content. Retries: requests resent once on a fresh connection "
        "because their kept-alive one was dead.</p>"
    )
    for name, title in (("timeline", "Latency and throughput over time"),
                        ("distributions", "Latency distributions"),
                        ("resources", "Resources per process"),
                        ("phases", "Server phases")):  # fmt: skip
        if name in images:
            parts.append(f"<h2>{_e(title)}</h2>" + _img(images[name], title))

    parts.append("<h2>Memory trend per process</h2>")
    parts.append(_table(
        ["process", "samples", "span", "slope MB/min", "95% CI", "verdict", "detail"],
        [[_e(process_label(f)), _n(f["n"]), f"{f['span_min']:.1f} min",
          _n(f["slope_mb_per_min"]),
          _NONE if f["ci_low"] is None else f"{f['ci_low']:+.3f} … {f['ci_high']:+.3f}",
          _e(f["status"]), _e(f["detail"])] for f in s["leaks"]],
        cls=["bad" if f["status"] == "leak" else "" for f in s["leaks"]],
    ))  # fmt: skip
    parts.append("<h2>Alerts</h2>")
    parts.append(
        "<ul>" + "".join(f"<li>{_e(a['message'])}</li>" for a in s["alerts"]) + "</ul>"
        if s["alerts"]
        else "<p>No alert fired.</p>"
    )
    parts.append("<h2>Recommendations</h2>")
    if s["recommendations"]:
        parts.append("<ol>" + "".join(
            f"<li><b>[{_e(r['category'])}] {_e(r['title'])}</b> — {_e('; '.join(r['actions']))}. "
            f"Expected: {_e(r['expected_improvement'])}. <span class='muted'>Because: "
            f"{_e(r['finding'])} (impact {r['impact']}, effort {r['effort']})</span></li>"
            for r in s["recommendations"]
        ) + "</ol>")  # fmt: skip
    else:
        parts.append("<p>No target was missed: nothing to recommend.</p>")
    parts.append(_comparison(s))
    loc = s["locust"]
    if loc is not None:
        parts.append("<h2>Locust's own view</h2>")
        parts.append(f"<p>Locust counted {_n(loc['requests'])} requests and "
                     f"{_n(loc['failures'])} failures ({_e(loc['source'] or 'no counts')}); "
                     f"requests.csv has {_n(loc['csv_rows'])} rows.</p>")  # fmt: skip
        if loc["requests"] is not None and loc["requests"] != loc["csv_rows"]:
            parts.append(
                "<p><b>The counts differ</b>: records were lost, or Locust's CSV missed "
                "the last requests (it is rewritten every second).</p>"
            )
        if loc["failure_messages"]:
            parts.append(_table(
                ["name", "error", "occurrences"],
                [[_e(f["name"]), _e(f["error"]), _n(f["occurrences"])]
                 for f in loc["failure_messages"]],
                left=2,
            ))  # fmt: skip
    env = s["run"]["environment"]
    if env:
        parts.append("<h2>Environment</h2>")
        parts.append(_table(["field", "value"], [[_e(k), _e(v)] for k, v in env.items()], left=2))
    parts.append("</body></html>")
    return "\n".join(parts)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
