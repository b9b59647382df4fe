"""The repeat set's index: written atomically, read back, malformed input named."""

from __future__ import annotations

from pathlib import Path

import pytest

from qi_load.errors import QiLoadError
from qi_load.record.repeat_index import (
    RepeatIndex,
    RepeatRun,
    is_repeat_set,
    read_index,
    run_id_of,
    write_index,
)


def test_round_trip(tmp_path: Path) -> None:
    index = RepeatIndex("s", "quick-ladder", 3, 1.5, [RepeatRun(run_id_of("s", 1), "s-r1", "ok")])
    assert not is_repeat_set(tmp_path)
    write_index(tmp_path, index)
    assert is_repeat_set(tmp_path)
    assert read_index(tmp_path) == index
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[]", "expected a JSON object"),
        ("{", "not readable JSON"),
        ('{"runs": 3}', "field 'runs': expected list, got 3"),
        ('{"runs": [1]}', r"runs\[0\]: expected an object"),
        ('{"runs": [{"run_id": "a", "path": "../x", "status": "complete"}], "set_id": "s"}',
         "must lie inside the set"),
        ('{"runs": [], "set_id": "s", "scenario": "q", "requested": true}',
         "field 'requested': expected int, got True"),
    ],
)  # fmt: skip
def test_malformed_index_is_named(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "repeat.json").write_text(body)
    with pytest.raises(QiLoadError, match=message):
        read_index(tmp_path)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(QiLoadError, match="not a repeat set") as caught:
        read_index(tmp_path)
    assert str(tmp_path) in str(caught.value)
