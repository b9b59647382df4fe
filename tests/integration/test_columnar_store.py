"""The master leaves a large closed run with its requests.parquet, written by a child Python
process that imports pyarrow (an integration test: it starts a child process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from synthetic_run import SyntheticRun, write_synthetic_run

from qi_load.analyze.load import load_run
from qi_load.generate import columnar_store
from qi_load.generate.columnar_store import store_columnar

pytestmark = pytest.mark.integration


def test_a_large_run_gets_its_parquet_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = write_synthetic_run(tmp_path / "original", SyntheticRun(users=(1, 4), seed=3))
    root = Path(shutil.copytree(original, tmp_path / "run"))
    store_columnar(root)  # far below the size: nothing to do
    assert not (root / "requests.parquet").exists()
    monkeypatch.setattr(columnar_store, "COLUMNAR_MIN_BYTES", 0)
    store_columnar(root)
    assert (root / "requests.parquet").is_file()
    (root / "requests.csv").rename(root / "requests.csv.bak")  # only Parquet is left to read
    pd.testing.assert_frame_equal(load_run(root).requests, load_run(original).requests)


def test_a_csv_that_does_not_convert_stays_the_only_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "requests.csv").write_text("ts_sched,user_id\n1.0,three\n")
    monkeypatch.setattr(columnar_store, "COLUMNAR_MIN_BYTES", 0)
    store_columnar(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requests.csv"]
    assert "kept as CSV only (exit 2)" in caplog.text
