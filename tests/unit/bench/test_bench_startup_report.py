"""The pure parts of the startup benchmark: phase lines, ready options, statistics, table."""

from __future__ import annotations

import pytest

from qi_load.bench.startup import ReadyCondition, StartupRun, parse_phase
from qi_load.bench.startup_report import (
    grade_startup,
    metric_summaries,
    phase_summaries,
    startup_document,
    startup_table,
)
from qi_load.cli import exit_code_for
from qi_load.errors import QiLoadError
from qi_load.units import MB


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("QI_PHASE module_loading 84.2", ("module_loading", 84.2)),
        ("QI_PHASE ready 3", ("ready", 3.0)),
        ("  QI_PHASE agent_init 12.5  ", ("agent_init", 12.5)),
        ("QI_PHASE  process_init\t0.75", ("process_init", 0.75)),
    ],
)
def test_phase_lines(line: str, expected: tuple[str, float]) -> None:
    assert parse_phase(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "QI_PHASE",
        "QI_PHASE ready",
        "QI_PHASE ready fast",
        "QI_PHASE ready -3",
        "x QI_PHASE a 1",
        "QI_PHASE a 1 2",
        "QI_READY http://127.0.0.1:8000",
    ],
)
def test_other_lines_are_not_phases(line: str) -> None:
    assert parse_phase(line) is None


def test_ready_condition_from_options() -> None:
    assert ReadyCondition.from_options(log=None, url=None, port=None).kind == "exit"
    log = ReadyCondition.from_options(log="QI_READY", url=None, port=None)
    assert log.log is not None and log.log.search("QI_READY http://x")
    url = ReadyCondition.from_options(log=None, url="http://127.0.0.1:{port}/ready", port=None)
    assert url.as_dict()["value"] == "http://127.0.0.1:{port}/ready"
    port = ReadyCondition.from_options(log=None, url=None, port=8000)
    assert "127.0.0.1:8000" in port.describe()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log": "([", "url": None, "port": None}, "--ready-log: invalid regular expression"),
        ({"log": None, "url": "localhost:80", "port": None}, "--ready-url: expected an http"),
        ({"log": None, "url": None, "port": 70000}, "--ready-port: expected a port"),
    ],
)
def test_bad_ready_options_are_usage_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(QiLoadError, match=message) as exc:
        ReadyCondition.from_options(**options)  # type: ignore[arg-type]
    assert exit_code_for(exc.value) == 2


def _run(index: int, ready_ms: float, rss_mb: float, **kw: object) -> StartupRun:
    return StartupRun(
        index=index,
        spawn_ms=1.0,
        ready_ms=ready_ms,
        rss_bytes=int(rss_mb * MB),
        cpu_ms=50.0,
        **kw,  # type: ignore[arg-type]
    )


RUNS = [
    _run(
        1,
        250.0,
        60.0,
        first_output_ms=20.0,
        port_open_ms=240.0,
        port=4000,
        phases={"process_init": 10.0, "module_loading": 100.0, "ready": 5.0},
    ),
    _run(
        2,
        350.0,
        80.0,
        first_output_ms=30.0,
        port_open_ms=330.0,
        port=4001,
        phases={"process_init": 20.0, "module_loading": 140.0, "ready": 7.0},
    ),
    _run(3, 300.0, 70.0, first_output_ms=None, phases={"module_loading": 120.0}),
]


def test_metric_summaries_skip_unobserved_values() -> None:
    summary = metric_summaries(RUNS)
    assert summary["ready_ms"]["mean"] == pytest.approx(300.0)
    assert summary["ready_ms"]["n"] == 3
    assert summary["first_output_ms"]["n"] == 2
    assert summary["port_open_ms"]["max"] == 330.0
    assert summary["rss_mb"]["mean"] == pytest.approx(70.0, abs=1e-6)


def test_phases_keep_the_reported_order_and_count_their_runs() -> None:
    phases = phase_summaries(RUNS)
    assert list(phases) == ["process_init", "module_loading", "ready"]
    assert phases["module_loading"]["n"] == 3
    assert phases["module_loading"]["mean"] == pytest.approx(120.0)
    assert phases["process_init"]["n"] == 2


def test_grades_use_the_means() -> None:
    grades = grade_startup(metric_summaries(RUNS))
    assert grades["startup"]["value"] == pytest.approx(300.0)
    assert grades["startup"]["grade"] == "target"
    assert grades["memory"]["grade"] == "target"
    assert grade_startup(metric_summaries([_run(1, 600.0, 40.0)]))["startup"]["grade"] == "fail"


def test_document_and_table() -> None:
    doc = startup_document(
        command=["agent", "--port", "0"],
        ready={"kind": "log", "value": "QI_READY", "description": "x"},
        runs=RUNS,
        settings={"runs": 3},
        environment={"load_avg": [0.1, 0.1, 0.1]},
    )
    assert doc["rss_basis"] == "at_ready"
    assert [run["index"] for run in doc["runs"]] == [1, 2, 3]
    table = startup_table(doc)
    assert "ready (ms)" in table and "RSS at ready (MB)" in table
    assert "module_loading (ms)" in table
    assert "startup: mean 300.0 ms -> target" in table


def test_table_names_exit_timing_for_commands_that_exit() -> None:
    doc = startup_document(
        command=["true"],
        ready={"kind": "exit", "value": None, "description": "x"},
        runs=[_run(1, 10.0, 5.0)],
        settings={},
        environment={},
    )
    table = startup_table(doc)
    assert doc["rss_basis"] == "peak"
    assert "exit (ms)" in table and "peak RSS (MB)" in table
    assert "phase" not in table
