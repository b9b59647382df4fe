"""run.json: one typed model, written whole, read tolerantly (old, partial, foreign files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qi_load.record.manifest import (
    SCHEMA_VERSION,
    Manifest,
    new_manifest,
    parse_manifest,
    read_manifest,
    write_manifest,
)
from qi_load.record.rundir import RunDir


def _new() -> Manifest:
    return new_manifest(
        run_id="r1",
        mode="local",
        scenario={"name": "smoke"},
        target_url="http://127.0.0.1:1",
        expected_workers=0,
        workers=[],
        quality=None,
    )


def test_a_new_manifest_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_manifest(path, _new())
    manifest = read_manifest(path)
    assert manifest == _new().model_copy(update={"start": manifest.start})
    assert manifest.schema_version == SCHEMA_VERSION and manifest.status == "running"
    assert json.loads(path.read_text())["run_id"] == "r1"


def test_a_manifest_written_before_the_model_reads() -> None:
    # The plugin's dict literal of earlier versions: no schema_version, no startup_ms.
    old = {
        "run_id": "20261127-224901-smoke",
        "status": "complete",
        "mode": "master",
        "scenario": {"name": "smoke"},
        "target_url": "http://127.0.0.1:8000",
        "start": 1.0,
        "end": 2,
        "expected_workers": 2,
        "workers": [{"id": "w1", "joined": 1.0, "lost_at": None}],
        "lost_workers": [{"id": "w2", "at": 1.5, "reason": "heartbeat"}],
        "stages": [{"index": 0, "name": "1u", "users": 1, "start": 1, "ramp_end": 1, "end": 2}],
        "environment": None,
        "counts": {"requests": 3, "host_samples": 4},
        "quality": None,
        "interrupted_by": None,
        "test_start": 1.0,
    }
    manifest = parse_manifest(old)
    assert manifest.schema_version == 1 and manifest.startup_ms is None
    assert manifest.end == 2.0 and manifest.lost_workers[0].reason == "heartbeat"
    assert manifest.counts.requests == 3 and manifest.stages[0]["name"] == "1u"


def test_a_bad_field_is_dropped_with_a_warning_and_foreign_keys_are_kept() -> None:
    warnings: list[str] = []
    manifest = parse_manifest(
        {"run_id": "x", "end": "soon", "workers": 3, "extra": {"a": 1}}, warnings
    )
    assert manifest.end is None and manifest.workers == [] and manifest.run_id == "x"
    assert sorted(warnings) == [
        "run.json: field 'end' = 'soon' ignored",
        "run.json: field 'workers' = 3 ignored",
    ]
    assert json.loads(manifest.to_json())["extra"] == {"a": 1}
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        parse_manifest([])


def test_updates_merge_and_name_only_manifest_fields(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.update_manifest(run_id="x", status="running")
    merged = run_dir.update_manifest(status="complete", startup_ms=812.5)
    assert (merged.run_id, merged.status, merged.startup_ms) == ("x", "complete", 812.5)
    assert read_manifest(run_dir.run_json) == merged
    with pytest.raises(TypeError, match="not manifest fields: stauts"):
        run_dir.update_manifest(stauts="complete")


def test_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"run_id": ')
    with pytest.raises(ValueError, match=r"run\.json: not valid JSON"):
        read_manifest(path)


def test_only_the_keys_a_writer_set_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_manifest(path, _new())
    assert "test_start" not in json.loads(path.read_text())
    RunDir(tmp_path).update_manifest(test_start=5.0)
    RunDir(tmp_path).update_manifest(status="complete")
    data = json.loads(path.read_text())
    assert data["test_start"] == 5.0 and "startup_ms" not in data and data["end"] is None


def test_the_docs_list_every_manifest_field() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "run-directory.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("## `run.json`") : text.index("## `requests.csv`")]
    listed = [
        name
        for line in section.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([a-z_]+)`", line.split(" | ")[0])
    ]
    assert sorted(listed) == sorted(Manifest.model_fields)
