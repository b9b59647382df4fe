"""The targets graded against a run, overrides from a file, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load.analyze.stages import StageStats
from qi_load.analyze.targets import grade_targets, load_targets
from qi_load.errors import QiLoadError
from qi_load.targets import Targets


def test_grade_a_ladder(ladder_stages: list[StageStats]) -> None:
    results = {t["metric"]: t for t in grade_targets(Targets(), ladder_stages, None)}
    assert results["startup"]["grade"] == "not_measured"
    assert results["memory"]["grade"] == "target"  # ~60 MB
    assert results["p95"]["grade"] == "stretch" and "u8" in results["p95"]["basis"]
    assert results["throughput"]["grade"] == "fail"  # ~8.9 req/s < 10
    with_startup = grade_targets(Targets(), ladder_stages, 250.0)
    assert with_startup[0]["grade"] == "target"


def test_partial_override_from_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "t.yaml"
    yml.write_text("throughput_rps:\n  minimum: 5\n  target: 8\nreference_users: 4\n")
    cfg = load_targets(yml)
    assert cfg.throughput_rps.minimum == 5 and cfg.throughput_rps.stretch == 25
    assert cfg.reference_users == 4 and cfg.p95_s.target == 1.5
    js = tmp_path / "t.json"
    js.write_text('{"p95_s": {"stretch": 0.5}}')
    assert load_targets(js).p95_s.stretch == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95_s: {target: 3}", r"t.yaml:1: p95_s: levels out of order .*stretch <= target"),
        ("latency: 3", r"t.yaml:1: latency: unknown field 'latency'"),
        ("p95_s: {target: fast}", r"t.yaml:1: p95_s.target: expected a valid number"),
        ("[1, 2]", r"t.yaml:1: expected a mapping of targets fields .*, got a list"),
        ("a: [", r"t.yaml:1:5: invalid YAML"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(QiLoadError, match=message):
        load_targets(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="targets file not found"):
        load_targets(tmp_path / "none.yaml")


def test_p95_is_the_typical_querys_at_the_required_stage(ladder_stages: list[StageStats]) -> None:
    stages = ladder_stages
    p95 = grade_targets(Targets(), stages, None, reference_stage=stages[0]["name"])[2]
    assert p95["basis"].startswith(f"E2E p95 of simple at {stages[0]['name']} (")
    expected = stages[0]["per_type"]["simple"]["e2e_ms"]["p95"]
    assert expected is not None and p95["value"] == expected / 1000.0
    other = grade_targets(Targets(p95_query_type="mcp"), stages, None)[2]  # none sent
    assert (other["value"], other["grade"]) == (None, "not_measured")
    assert other["basis"].startswith("no successful mcp request at ")


def test_a_targets_file_gates_and_an_unknown_p95_type_is_named(tmp_path: Path) -> None:
    assert Targets().gate is False
    path = tmp_path / "t.yaml"
    path.write_text("p95_s: {target: 1.6}\n")
    assert load_targets(path).gate is True
    path.write_text("gate: false\n")
    assert load_targets(path).gate is False
    path.write_text("p95_query_type: chat\n")
    with pytest.raises(QiLoadError, match=r"p95_query_type: unknown query type 'chat'"):
        load_targets(path)
