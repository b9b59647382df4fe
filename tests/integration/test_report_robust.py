"""`qi-load report` never crashes: any run directory the plugin can leave gets every format
and exit 0; malformed input exits 2 with one line naming the file and the fault."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from qi_cli import run_qi_load
from rundir_shapes import SHAPES, Process, RunShape, run_shapes, write_shape

from qi_load.analyze.compare import compare_runs
from qi_load.analyze.load import load_run
from qi_load.analyze.summary import analyze_run
from qi_load.cli import main
from qi_load.render import series
from qi_load.render.html import render_html
from qi_load.render.outputs import write_report
from qi_load.render.plots import PLOTS

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n"
REPORT_FILES = ("report.html", "summary.md", "summary.json")


def _analyse_everything(root: Path, out: Path) -> None:
    """The report's whole pipeline but the rasterising of its PNGs (the slow part, checked
    by the tests below): analysis, summary.json, summary.md, every figure's series, the page."""
    data = load_run(root)
    summary = analyze_run(data, baseline=data)
    written = write_report(summary, data, ("json", "md"), out)
    assert {p.name for p in written} == {"summary.json", "summary.md"}
    parsed = json.loads((out / "summary.json").read_text())
    assert parsed["schema_version"] == 1
    overall = summary["overall"]
    # Cancelled and failed requests stay out of the latency percentiles.
    assert overall["e2e_ms"]["n"] <= overall["n_ok"] <= overall["n"]
    md = (out / "summary.md").read_text()
    for stage in summary["stages"]:
        assert series.stage_note(stage) in md
    series.curves(summary)
    series.timeline(summary, data)
    series.resources(summary, data)
    series.distributions(data)
    series.phases(summary)
    page = render_html(summary, {})
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    compare_runs(data, data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=run_shapes())
def test_any_run_directory_is_analysed(shape: RunShape) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = write_shape(Path(tmp) / "run", shape)
        _analyse_everything(root, Path(tmp) / "out")


def _full_report(root: Path, *extra: str) -> None:
    assert main(["report", str(root), *extra]) == 0
    assert all((root / name).is_file() for name in REPORT_FILES)
    json.loads((root / "summary.json").read_text())
    plots = {p.stem: p.read_bytes() for p in (root / "plots").iterdir()}
    assert set(plots) == set(PLOTS) and all(png.startswith(PNG) for png in plots.values())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=run_shapes())
def test_any_run_directory_gets_every_format(shape: RunShape) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _full_report(write_shape(Path(tmp) / "run", shape))


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    return {name: write_shape(root / name, make()) for name, make in SHAPES.items()}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_named_shape_gets_every_format(named: dict[str, Path], name: str) -> None:
    _full_report(named[name])
    html = (named[name] / "report.html").read_text()
    if name == "all_failed":
        assert "no successful requests in this stage" in html
    if name in ("zero_requests", "all_cancelled"):  # cancelled requests never finished
        assert "no requests in this stage" in html


def test_all_failed_through_the_cli(named: dict[str, Path], tmp_path: Path) -> None:
    done = run_qi_load("report", str(named["all_failed"]), "--out", str(tmp_path), timeout=180)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert all((tmp_path / name).is_file() for name in REPORT_FILES)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["overall"]["errors_by_kind"] == {"connect": summary["overall"]["n"]}
    # 13 failures a stage: too few to judge, and the knee says so instead of "kept scaling".
    knee = summary["degradation"]["knee"]
    assert (knee["users"], knee["status"]) == (None, "insufficient_data")
    assert knee["detail"].startswith("insufficient data: too few requests (< 20)")


def test_all_cancelled_keeps_rows_out_of_every_figure(named: dict[str, Path]) -> None:
    run = load_run(named["all_cancelled"])
    summary = analyze_run(run)
    assert len(run.cancelled) > 0 and run.requests.empty
    assert summary["overall"]["n"] == 0 and summary["overall"]["errors_by_kind"] == {}
    assert sum(s["cancelled"] for s in summary["stages"]) > 0  # counted in their stages
    assert all(s["started"] == s["cancelled"] for s in summary["stages"])


def test_compare_loads_any_shape(named: dict[str, Path], tmp_path: Path) -> None:
    for base, cur in (("all_failed", "one_request"), ("zero_requests", "mcp_only")):
        assert main(["compare", str(named[base]), str(named[cur]), "--out", str(tmp_path)]) == 0
        json.loads((tmp_path / "comparison.json").read_text())


def test_report_with_baseline_of_another_shape(named: dict[str, Path], tmp_path: Path) -> None:
    out = Path(shutil.copytree(named["crashed_running"], tmp_path / "r"))
    _full_report(out, "--baseline", str(named["all_cancelled"]))


# -- malformed input ----------------------------------------------------------------------


def _edit_line(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[line - 1].rstrip("\n").split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells) + "\n"
    path.write_text("".join(lines))


def _damage(root: Path, case: str) -> Path:
    """Break an intact run directory one way; return the path to report on."""
    requests, manifest = root / "requests.csv", root / "run.json"
    if case == "a file":
        return manifest
    if case == "no directory":
        return root / "nope"
    if case == "no run.json nor requests.csv":
        manifest.unlink()
        requests.unlink()
    elif case == "run.json not JSON":
        manifest.write_text("{ nope")
    elif case == "run.json a list":
        manifest.write_text("[]")
    elif case == "stage bound not a number":
        stage = {"name": "a", "users": 1, "start": 0, "ramp_end": 0, "end": "later"}
        manifest.write_text(json.dumps({"stages": [stage]}))
    elif case == "requests.csv bad header":
        requests.write_text("when,what\n1,2\n")
    elif case == "complete run cut off":
        requests.write_bytes(requests.read_bytes()[:-7])
    else:
        path, line, column, value = CELLS[case]
        _edit_line(root / path, line, column, value)
    return root


CELLS: dict[str, tuple[str, int, str, str]] = {
    "unparseable latency": ("requests.csv", 3, "e2e_ms", "fast"),
    "ok neither true nor false": ("requests.csv", 2, "ok", "maybe"),
    "empty start": ("requests.csv", 4, "ts_start", ""),
    "infinite users": ("requests.csv", 2, "users", "inf"),
    "empty pid": ("host_samples.csv", 2, "pid", ""),
}
MALFORMED: dict[str, str] = {
    "a file": "run.json: not a run directory (a file)",
    "no directory": "nope: not a run directory (no such directory)",
    "no run.json nor requests.csv": "not a run directory (neither run.json nor requests.csv)",
    "run.json not JSON": "run.json: not valid JSON",
    "run.json a list": "run.json: expected a JSON object, got list",
    "stage bound not a number": "run.json: stages[0].end = 'later' is not a number",
    "requests.csv bad header": "requests.csv: wrong columns: missing ts_sched",
    "complete run cut off": "requests.csv: truncated: line 31 is cut off",
    "unparseable latency": "requests.csv: line 3: column 'e2e_ms': 'fast' is not a number",
    "ok neither true nor false": "requests.csv: line 2: column 'ok': 'maybe' is not true or false",
    "empty start": "requests.csv: line 4: column 'ts_start' is empty",
    "infinite users": "requests.csv: line 2: column 'users': inf is not a finite number",
    "empty pid": "host_samples.csv: line 2: column 'pid': '' is not a number",
}


@pytest.fixture
def intact(tmp_path: Path) -> Path:
    """30 failed requests over two stages and five samples of one process."""
    shape = replace(SHAPES["all_failed"](), processes=(Process("target", 1, 5, 50.0, 0.0, 9.0),))
    return write_shape(tmp_path / "run", shape)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_is_one_line_exit_2(
    intact: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(_damage(intact, case))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("qi-load report: error: ") and MALFORMED[case] in err, err


def test_malformed_input_through_the_cli(intact: Path) -> None:
    _edit_line(intact / "requests.csv", 2, "ok", "maybe")
    done = run_qi_load("report", str(intact), timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"qi-load report: error: {intact / 'requests.csv'}: line 2: column 'ok': 'maybe' "
        "is not true or false"
    ]


def test_killed_run_drops_its_cut_off_line(intact: Path) -> None:
    manifest = json.loads((intact / "run.json").read_text())
    (intact / "run.json").write_text(json.dumps({**manifest, "status": "running", "end": None}))
    rows = (intact / "requests.csv").read_bytes()
    (intact / "requests.csv").write_bytes(rows[:-7])
    (intact / "locust_final.json").write_text("[")
    (intact / "locust_stats.csv").write_text("Type,Name,Request Count,Failure Count\nPOST,si")
    data = load_run(intact)
    assert len(data.requests) == rows.count(b"\n") - 2
    assert any("is cut off (the run stopped mid-write): left out" in w for w in data.warnings)
    assert any(w.startswith("locust_stats.csv left out: truncated") for w in data.warnings)
    _full_report(intact)
