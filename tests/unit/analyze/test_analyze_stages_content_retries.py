"""Time to first content and retries in the per-window statistics, on plain numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qi_load.analyze.load import REQUEST_COLUMNS_REQUIRED, load_run
from qi_load.analyze.stages import query_stats

NAN = float("nan")


def _frame(ok: list[bool], ttfc: list[float], retries: list[float]) -> pd.DataFrame:
    n = len(ok)
    return pd.DataFrame(
        {
            "ok": ok,
            "error_kind": ["none" if o else "connect" for o in ok],
            "quality_ok": np.full(n, np.nan),
            "query_type": ["reasoning"] * n,
            "ttft_ms": [10.0] * n,
            "ttfc_ms": np.array(ttfc, dtype=np.float64),
            "retries": np.array(retries, dtype=np.float32),
            "e2e_ms": [100.0] * n,
            "tpot_ms": [5.0] * n,
            "itl_p50_ms": [2.0] * n,
            "output_tokens": [10.0] * n,
            "ts_start": [0.0] * n,
            "ts_sched": [0.0] * n,
            **{f"srv_{p}_ms": [np.nan] * n for p in ("request", "tool", "llm", "format")},
        }
    )


def test_ttfc_over_successes_with_content_and_retries_over_all_requests() -> None:
    # 5 served: 4 with content (100..400 ms), 1 tool-call only; 1 failed after a retry.
    frame = _frame([True] * 5 + [False], [100, 200, 300, 400, NAN, 50], [0, 1, 0, 0, 0, 1])
    q = query_stats(frame, 10.0, {}, open_loop=False, query_type="reasoning")
    assert q["ttfc_ms"]["n"] == 4  # the failed request's 50 ms is not a latency
    assert q["ttfc_ms"]["p50"] == pytest.approx(250.0)
    assert q["ttfc_ms"]["p95"] == pytest.approx(385.0)
    assert q["retries"] == 2
    assert q["retry_rate"] == pytest.approx(2 / 6)


def test_no_content_and_no_requests() -> None:
    q = query_stats(_frame([True], [NAN], [0]), 1.0, {}, open_loop=False)
    assert (q["ttfc_ms"]["n"], q["ttfc_ms"]["p50"]) == (0, None)
    empty = query_stats(_frame([], [], []), 1.0, {}, open_loop=False)
    assert (empty["retries"], empty["retry_rate"]) == (0, 0.0)


def test_an_older_requests_csv_without_the_columns_reads_as_none(tmp_path: Path) -> None:
    values = {"ts_sched": "1.0", "ts_start": "1.0", "query_type": "simple", "users": "1",
              "ok": "true", "error_kind": "none", "e2e_ms": "10", "ttft_ms": "5"}  # fmt: skip
    header = list(REQUEST_COLUMNS_REQUIRED)
    row = [values.get(c, "") for c in header]
    (tmp_path / "requests.csv").write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    frame = load_run(tmp_path).requests
    assert frame["retries"].tolist() == [0.0]
    assert np.isnan(frame["ttfc_ms"]).all()
