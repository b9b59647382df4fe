"""``summary.md``: the verdict and key numbers, short enough for a CI comment."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from qi_load.analyze.compare import Comparison, ci_label
from qi_load.analyze.stages import QueryStats
from qi_load.analyze.summary import Summary
from qi_load.render.cells import triple_n, verdict_word
from qi_load.render.leak_findings import leak_findings
from qi_load.render.search_path import search_markdown
from qi_load.render.series import stage_note
from qi_load.render.sweep_rows import sweep_markdown
from qi_load.render.terminal import LATENCIES, capacity_text, verdict_line
from qi_load.render.traces import traces_markdown

__all__ = ["comparison_markdown", "md_escape", "render_markdown"]

# Intraword underscores are literal in GitHub Markdown; escaping them would litter names.
_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def md_escape(value: Any) -> str:
    """Text from the run (names, errors) rendered literally: no HTML, links or table breaks."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def _n(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"
    return md_escape(value)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def comparison_markdown(c: Comparison) -> list[str]:
    lines = [
        f"## Regression check: {md_escape(c['current'])} vs {md_escape(c['base'])}",
        "",
        f"Worst: **{c['worst']}**, {c['inconclusive']} inconclusive (warning >= "
        f"{c['settings']['warn']:.0%}, critical >= {c['settings']['critical']:.0%}; a change "
        f"counts only when its {ci_label(c['level'])} excludes zero; intervals: {c['method']})",
        "",
    ]
    lines += [f"- warning: {md_escape(w)}" for w in c["warnings"]]
    rows = [
        [md_escape(r["metric"]), md_escape(r["scope"]), _n(r["base"]), _n(r["current"]),
         "-" if r["change"] is None else f"{r['change']:+.1%}",
         "-" if r["ci_low"] is None else f"{r['ci_low']:+.1%} .. {r['ci_high']:+.1%}",
         f"{r['n_base']}/{r['n_current']}", r["severity"]]
        for r in c["rows"]
    ]  # fmt: skip
    head = ["metric", "scope", "baseline", "current", "change (+ worse)", ci_label(c["level"])]
    head += ["n", "verdict"]
    return [*lines, "", *_table(head, rows)]


def _quality(q: QueryStats) -> str:
    rate = q["quality_rate"]
    return "-" if rate is None else f"{rate:.0%} of {q['quality_checked']}"


def _retries(q: QueryStats) -> str:
    return f"{q['retries']} ({q['retry_rate']:.1%})" if q["retries"] else "0"


def _quality_lines(s: Summary) -> list[str]:
    info = s["quality"]
    types = list(dict.fromkeys([*s["per_type"], *info["checks"]]))
    lines = [
        "## Answer quality",
        "",
        f"Checks mode: {md_escape(info['mode'] or 'not recorded')}.",
        "",
    ]
    rows = []
    for name in types:
        q, plan = s["per_type"].get(name), info["checks"].get(name)
        rows.append([
            md_escape(name), _quality(q) if q else "-",
            md_escape(", ".join(plan["ran"]) or "none") if plan else "-",
            md_escape(", ".join(plan["reference_only"]) or "none") if plan else "-",
            md_escape(", ".join(plan["skipped"]) or "none") if plan else "-",
        ])  # fmt: skip
    head = ["query type", "quality", "checks run", "only on reference-agent answers", "skipped"]
    return lines + _table(head, rows)


def _latency_lines(s: Summary) -> list[str]:
    """Per stage, all query types then each: every latency's p50/p95/p99 with its n."""
    rows = [
        [md_escape(st["name"]), str(st["users"]), md_escape(name), str(q["n"]),
         _n(q["output_tokens_per_s"]), *(triple_n(q[key]) for _, key in LATENCIES)]
        for st in s["stages"]
        for name, q in {"all": st["overall"], **st["per_type"]}.items()
    ]  # fmt: skip
    head = ["stage", "users", "query type", "n", "out tok/s",
            *(f"{label} ms p50/p95/p99" for label, _ in LATENCIES)]  # fmt: skip
    return ["## Latency per stage and query type", "", *_table(head, rows)]


def _capacity_lines(s: Summary) -> list[str]:
    cap, req = s["capacity"], s["requirement"]
    per_type = ", ".join(
        f"{md_escape(qt)} {_n(c['users']) if c['users'] is not None else c['status']}"
        for qt, c in cap["per_type"].items()
    )
    return [
        f"**{capacity_text(s)}**: {md_escape(cap['detail'])}",
        "",
        f"Per query type (users): {per_type or '-'}.",
        "",
        f"**{verdict_line(s).split(' | ')[1]}**: {md_escape(req['detail'])}",
        "",
    ]


def render_markdown(s: Summary) -> str:
    run, check, deg = s["run"], s["check"], s["degradation"]
    lines = [
        f"# qi-load report: {md_escape(run['run_id'])}",
        "",
        f"Scenario `{md_escape(run['scenario'])}`, status **{md_escape(run['status'])}**, "
        f"verdict **{verdict_word(check)}**.",
        "",
    ]
    lines += _capacity_lines(s)
    lines += [f"- :warning: {md_escape(w)}" for w in s["warnings"]]
    lines += [f"- {verdict_word(check)}: {md_escape(f)}" for f in check["failures"]]
    sat = deg["first_saturated"]
    lines += [
        "",
        "## Findings",
        "",
        f"- Knee: {_n(deg['knee']['users'])} users ({md_escape(deg['knee']['detail'])})"
        if deg["knee"]["users"] is not None
        else f"- Knee: none ({md_escape(deg['knee']['detail'])})",
        f"- Scalability limit: {_n(deg['scalability_limit']['users'])} users "
        f"({md_escape(deg['scalability_limit']['detail'])})",
        f"- First saturated resource: {md_escape(sat['resource'] or 'none')} "
        f"({md_escape(sat['evidence'])})",
        *(f"- {title}: {text}" for title, text in leak_findings(s["leaks"], md_escape)),
        "",
        "## Targets",
        "",
    ]
    lines += _table(
        ["metric", "value", "stretch", "target", "minimum", "grade"],
        [[t["metric"], f"{_n(t['value'])} {t['unit']}", _n(t["stretch"]), _n(t["target"]),
          _n(t["minimum"]), t["grade"]] for t in s["targets"]],
    )  # fmt: skip
    lines += ["## Stages", ""]
    lines += _table(
        ["stage", "users", "started", "cancelled", "n", "req/s", "goodput/s", "errors",
         "retries", "quality", "TTFT p95 ms", "TTFC p50 ms", "TTFC p95 ms", "E2E p95 ms", "SLOs",
         "valid", "note"],
        [[md_escape(st["name"]), str(st["users"]), str(st["started"]), str(st["cancelled"]),
          str(st["overall"]["n"]),
          _n(st["overall"]["throughput_rps"]), _n(st["overall"]["goodput_rps"]),
          f"{st['overall']['error_rate']:.1%}", _retries(st["overall"]), _quality(st["overall"]),
          _n(st["overall"]["ttft_ms"]["p95"]), _n(st["overall"]["ttfc_ms"]["p50"]),
          _n(st["overall"]["ttfc_ms"]["p95"]), _n(st["overall"]["e2e_ms"]["p95"]),
          {True: "pass", False: "FAIL", None: "-"}[st["slo_ok"]],
          "yes" if st["invalid"] is None else f"no: {md_escape(st['invalid'])}",
          stage_note(st)]
         for st in s["stages"]],
    )  # fmt: skip
    lines += _latency_lines(s)
    lines += search_markdown(search, md_escape) if (search := s.get("search")) else []
    lines += sweep_markdown(sweep, s["stages"], md_escape) if (sweep := s.get("sweep")) else []
    lines += _quality_lines(s)
    if (traces := s.get("traces")) is not None:
        lines += traces_markdown(traces, md_escape)
    if s["recommendations"]:
        lines += ["## Recommendations", ""]
        lines += [
            f"{i}. **[{r['category']}] {md_escape(r['title'])}**: "
            f"{md_escape('; '.join(r['actions']))} (because {md_escape(r['finding'])})"
            for i, r in enumerate(s["recommendations"], 1)
        ]
        lines.append("")
    if s["alerts"]:
        lines += ["## Alerts", ""] + [f"- {md_escape(a['message'])}" for a in s["alerts"]] + [""]
    if s["comparison"] is not None:
        lines += comparison_markdown(s["comparison"])
    return "\n".join(lines) + "\n"
