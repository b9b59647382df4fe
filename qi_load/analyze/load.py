"""Load and validate a run directory into pandas frames, with warnings for partial runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.api.extensions import ExtensionDtype
from pandas.api.types import pandas_dtype

from qi_load.errors import QiLoadError
from qi_load.metrics.window import request_end
from qi_load.record.columnar import csv_to_parquet, parquet_source_bytes
from qi_load.record.manifest import Manifest, parse_manifest
from qi_load.record.rundir import (
    COLUMNAR_MIN_BYTES,
    HOST_SAMPLES_CSV,
    REQUESTS_CSV,
    REQUESTS_PARQUET,
    RUN_JSON,
    SPANS_CSV,
)
from qi_load.record.schema import HOST_SAMPLE_TABLE, REQUEST_TABLE, STAGE_MARK_TABLE, Field

__all__ = [
    "HOST_COLUMNS_REQUIRED",
    "LOCUST_FAILURES_CSV",
    "LOCUST_FINAL_JSON",
    "LOCUST_STATS_CSV",
    "REQUEST_COLUMNS_REQUIRED",
    "UNKNOWN",
    "RunData",
    "load_run",
    "read_dtypes",
]

LOCUST_STATS_CSV: Final = "locust_stats.csv"
LOCUST_FAILURES_CSV: Final = "locust_failures.csv"
LOCUST_FINAL_JSON: Final = "locust_final.json"


def read_dtypes(table: Sequence[Field], *, late: bool) -> dict[str, np.dtype[Any] | ExtensionDtype]:
    """The pandas dtypes of the columns analysis reads, those every file has (``late``
    false: a file without one is not a run's) or those added later (``late``: read as
    empty when missing). Only these are read: ``usecols`` keeps a million rows cheap.

    Resolved from their names once here: pandas looks a name up in its dtype registry each
    time it meets it, about a sixth of loading a small run."""
    return {
        f.name: pandas_dtype(f.column.dtype)
        for f in table
        if f.column.dtype is not None and f.column.csv and f.column.late == late
    }


_REQUEST_DTYPES: Final = read_dtypes(REQUEST_TABLE, late=False)
REQUEST_COLUMNS_REQUIRED: Final = tuple(_REQUEST_DTYPES)
_REQUEST_OPTIONAL: Final = read_dtypes(REQUEST_TABLE, late=True)
_HOST_DTYPES: Final = read_dtypes(HOST_SAMPLE_TABLE, late=False)
_HOST_OPTIONAL: Final = read_dtypes(HOST_SAMPLE_TABLE, late=True)
HOST_COLUMNS_REQUIRED: Final = tuple(_HOST_DTYPES)

_LOCUST_STATS_COLUMNS: Final = ("Type", "Name", "Request Count", "Failure Count")
_LOCUST_FAILURES_COLUMNS: Final = ("Method", "Name", "Error", "Occurrences")
UNKNOWN: Final = "unknown"
"""The label of a request whose query type, or failure's kind, its row leaves empty."""
_TRUE: Final = ("true", "1", "1.0")
_BOOLEAN: Final = (*_TRUE, "false", "0", "0.0")
_TRACE_ID: Final = "trace_id"
"""Read only when the run has the agent's spans (``spans.csv``) to join requests with."""
_WRITER_CLOSED: Final = ("complete", "interrupted", "failed")
"""Statuses after the master closed its files: they will not grow any more."""
_NOT_EMPTY: Final = ("ts_start", "ts")
"""Columns every row must have: a request's start, a sample's time."""


@dataclass
class RunData:
    """Everything a report reads from one run directory.

    ``requests`` (every row but the cancelled ones) has boolean ``ok``, a nullable boolean
    ``quality_ok`` (``NaN`` = not checked) and a derived ``ts_end`` (unix s the request
    finished). ``trace_id`` is read only when the run has ``spans.csv``, the agent's spans
    it joins requests to; otherwise it is empty. ``warnings`` lists what is missing or
    partial; a report shows them.
    """

    path: Path
    manifest: Manifest
    requests: pd.DataFrame
    samples: pd.DataFrame
    locust_stats: pd.DataFrame | None = None
    locust_failures: pd.DataFrame | None = None
    locust_final: list[dict[str, Any]] | None = None
    """Locust's final per-entry counts (``--json-file``, written at shutdown)."""
    warnings: list[str] = field(default_factory=list)
    cancelled: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Rows with ``error_kind = cancelled`` (in flight when a test ended), kept apart from
    ``requests``: they never finished, so no latency, throughput or error rate counts them."""

    @property
    def scenario(self) -> dict[str, Any]:
        return self.manifest.scenario or {}

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.manifest.stages


def load_run(path: Path | str) -> RunData:
    """Read ``path``; raise ``QiLoadError`` for a corrupt or foreign directory.

    Whatever a run can leave is read, with a warning for what is missing or partial: a run
    that did not close its files (killed, or still going) may end in a cut-off line, which
    is left out; a ``complete`` run closed them, so there a cut-off line is corruption.
    """
    root = Path(path)
    if not root.is_dir():
        what = "a file" if root.exists() else "no such directory"
        raise QiLoadError(f"{root}: not a run directory ({what})")
    has_manifest = (root / RUN_JSON).is_file()
    has_requests = (root / REQUESTS_CSV).is_file() or (root / REQUESTS_PARQUET).is_file()
    if not has_manifest and not has_requests:
        raise QiLoadError(f"{root}: not a run directory (neither {RUN_JSON} nor {REQUESTS_CSV})")
    warnings: list[str] = []
    manifest = _read_manifest(root / RUN_JSON, warnings) if has_manifest else Manifest()
    if not has_manifest:
        warnings.append(f"{RUN_JSON} is missing: no stages, scenario or SLOs; whole run analysed")
    status = manifest.status
    if status == "running":
        warnings.append(
            "run status is 'running': the run is still going, or its Locust process was "
            "killed before it closed run.json; the data may stop early"
        )
    elif has_manifest and status != "complete":
        warnings.append(f"run status is {status!r}, not 'complete': the data may stop early")
    closed = status == "complete"

    requests = _read_requests(root, warnings, status) if has_requests else None
    if requests is None:
        if not has_requests:
            warnings.append(f"{REQUESTS_CSV} is missing: no request metrics")
        requests = _finish_requests(_empty({**_REQUEST_DTYPES, **_REQUEST_OPTIONAL}))
    in_flight = (requests["error_kind"].astype("category") == "cancelled").to_numpy(bool)
    cancelled = requests[in_flight].reset_index(drop=True)
    if in_flight.any():  # a copy of every column: only when there is something to take out
        requests = requests[~in_flight].reset_index(drop=True)
    samples = None
    if (root / HOST_SAMPLES_CSV).is_file():
        samples = _read_samples(root / HOST_SAMPLES_CSV, warnings, closed)
    else:
        warnings.append(f"{HOST_SAMPLES_CSV} is missing: no resource metrics")
    if samples is None:
        samples = _empty({**_HOST_DTYPES, **_HOST_OPTIONAL})
    _cut_stages(manifest, requests, samples, warnings)
    return RunData(
        path=root,
        manifest=manifest,
        requests=requests,
        samples=samples,
        locust_stats=_read_small(root / LOCUST_STATS_CSV, _LOCUST_STATS_COLUMNS, warnings),
        locust_failures=_read_small(root / LOCUST_FAILURES_CSV, _LOCUST_FAILURES_COLUMNS, warnings),
        locust_final=_read_locust_final(root / LOCUST_FINAL_JSON, warnings),
        warnings=warnings,
        cancelled=cancelled,
    )


def _cut_stages(
    manifest: Manifest, requests: pd.DataFrame, samples: pd.DataFrame, warnings: list[str]
) -> None:
    """End the stages where the run ended, as the plugin does when it closes a run.

    A run that never closed ``run.json`` (killed) still lists its whole plan; ``qi-load run``
    may then mark it ``failed`` with its own end. Stages past that end would count seconds
    without load, so they end at ``end`` or, when a run that did not complete has none, at
    its last request or sample.
    """
    stages = manifest.stages
    if not stages:
        return
    end = manifest.end
    if end is None:
        if manifest.status == "complete":
            return
        last = [
            float(np.nanmax(c))
            for c in (requests["ts_end"].to_numpy(np.float64), samples["ts"].to_numpy(np.float64))
            if np.isfinite(c).any()
        ]
        if not last:
            return
        end = float(np.nextafter(max(last), np.inf))  # the window is half-open
    cut = [
        {**stage, "end": min(stage["end"], end), "ramp_end": min(stage["ramp_end"], end)}
        for stage in stages
        if stage["start"] < end
    ]
    shortened = sum(stage["end"] > end for stage in stages if stage["start"] < end)
    if shortened or len(cut) < len(stages):
        warnings.append(
            f"the run ended before its plan: {shortened} stage(s) cut short where the data "
            f"ends, {len(stages) - len(cut)} never started"
        )
    manifest.stages = cut


def _read_locust_final(path: Path, warnings: list[str]) -> list[dict[str, Any]] | None:
    """Locust's ``--json-file`` output: a list of stats entries, or ``None`` (with a warning
    when the file exists but is not that)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        warnings.append(f"{LOCUST_FINAL_JSON} is not JSON ({exc}); Locust's counts not read")
        return None
    if not isinstance(data, list) or not all(
        isinstance(e, dict) and isinstance(e.get("num_requests"), int) for e in data
    ):
        warnings.append(f"{LOCUST_FINAL_JSON} is not a list of Locust stats entries; not read")
        return None
    return data


def _read_manifest(path: Path, warnings: list[str]) -> Manifest:
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise QiLoadError(f"{path}: file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QiLoadError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise QiLoadError(f"{path}: expected a JSON object, got {type(data).__name__}")
    # Stages are what every figure is cut by: a bad one is an error, not a warning.
    stages = data.get("stages") or []
    if not isinstance(stages, list):
        raise QiLoadError(f"{path}: field 'stages' must be a list, got {type(stages).__name__}")
    required = [f for f in STAGE_MARK_TABLE if f.required]
    for i, stage in enumerate(stages):
        if isinstance(stage, dict):
            stage.setdefault("index", i)  # its place in the list, for files that leave it out
        for f in required:
            if not isinstance(stage, dict) or f.name not in stage:
                raise QiLoadError(f"{path}: stages[{i}] lacks field {f.name!r}")
        for f in required:
            value = stage[f.name]
            if f.kind is not str and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                raise QiLoadError(f"{path}: stages[{i}].{f.name} = {value!r} is not a number")
    return parse_manifest(data, warnings)


@dataclass(frozen=True)
class _Text:
    """A CSV file's header and how many of its data rows are whole (``None``: all)."""

    header: list[str]
    rows: int | None = None


def _check_text(
    path: Path, required: Sequence[str], warnings: list[str] | None = None, closed: bool = True
) -> _Text | None:
    """Validate the header and the last byte. A file its writer did not close (``closed``
    false, ``warnings`` given) may be empty (``None``) or end in a cut-off line (left out)."""
    size = path.stat().st_size
    lenient = warnings if not closed else None
    if size == 0:
        if lenient is not None:
            lenient.append(f"{path.name} is empty (the run stopped before its header): no rows")
            return None
        raise QiLoadError(f"{path}: file is empty (not even a header)")
    with path.open("rb") as fh:
        raw = fh.readline()
        fh.seek(size - 1)
        last = fh.read(1)
    if lenient is not None and not raw.endswith(b"\n"):
        lenient.append(f"{path.name}: its header is cut off (the run stopped): no rows")
        return None
    header_line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    header = [h.strip().strip('"') for h in header_line.split(",")]
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise QiLoadError(
            f"{path}: wrong columns: missing {shown} (header starts {header_line[:80]!r})"
        )
    if last == b"\n":
        return _Text(header)
    lines = _count_lines(path)
    if lenient is not None:
        lenient.append(
            f"{path.name}: line {lines} is cut off (the run stopped mid-write): left out"
        )
        return _Text(header, rows=lines - 2)
    raise QiLoadError(
        f"{path}: truncated: line {lines} is cut off (no final newline); the run was "
        f"killed mid-write: delete that last line to report the rest"
    )


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
    return count + 1


def _read_csv(path: Path, dtypes: Mapping[str, Any], text: _Text) -> pd.DataFrame:
    use = {k: v for k, v in dtypes.items() if k in text.header}
    try:
        frame = pd.read_csv(
            path, usecols=list(use), dtype=use, engine="c", low_memory=False, nrows=text.rows
        )
    except pd.errors.ParserError as exc:
        raise QiLoadError(f"{path}: malformed CSV ({str(exc).strip()})") from exc
    except ValueError as exc:
        raise QiLoadError(f"{path}: {_bad_value(path, use, text.rows)} ({exc})") from exc
    _check_numbers(path, frame)
    return frame


def _bad_value(path: Path, dtypes: Mapping[str, Any], rows: int | None) -> str:
    """Find the first cell that does not parse, for the error message (error path only)."""
    raw = pd.read_csv(path, usecols=list(dtypes), dtype=str, keep_default_na=False, nrows=rows)
    for col, kind in dtypes.items():
        if kind == "category":
            continue
        cells = raw[col]
        bad = pd.to_numeric(cells.replace("", np.nan), errors="coerce").isna() & (cells != "")
        if str(kind).startswith("int"):
            bad |= cells == ""  # an integer column has no "not measured"
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            return f"line {row + 2}: column {col!r}: {cells.iloc[row]!r} is not a number"
    return "a value does not parse"


def _row(path: Path, row: int) -> str:
    """Where a row is, for an error message: its line in a CSV (after the header), its
    1-based row in a Parquet file."""
    return f"{path}: row {row + 1}" if path.suffix == ".parquet" else f"{path}: line {row + 2}"


def _check_numbers(path: Path, frame: pd.DataFrame) -> None:
    """No infinities anywhere, and no empty cell in a column every row must have."""
    for col in frame.columns:
        values = frame[col]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        arr = values.to_numpy(np.float64)
        bad = np.isinf(arr) | (np.isnan(arr) if col in _NOT_EMPTY else False)
        if bad.any():
            row = int(np.argmax(bad))
            where = f"{_row(path, row)}: column {col!r}"
            if np.isnan(arr[row]):
                raise QiLoadError(f"{where} is empty (every row needs it)")
            raise QiLoadError(f"{where}: {float(arr[row])!r} is not a finite number")


def _read_requests(root: Path, warnings: list[str], status: str | None) -> pd.DataFrame | None:
    path = _request_store(root, warnings, status)
    dtypes = {**_REQUEST_DTYPES, **_REQUEST_OPTIONAL}
    if not (root / SPANS_CSV).is_file():
        # Nothing to join it with: 32 characters a row (10 million rows: 400 MB) read as empty.
        del dtypes[_TRACE_ID]
    if path.suffix == ".parquet":
        frame = _read_parquet(path, dtypes, REQUEST_COLUMNS_REQUIRED)
    else:
        text = _check_text(path, REQUEST_COLUMNS_REQUIRED, warnings, status == "complete")
        if text is None:
            return None
        frame = _read_csv(path, dtypes, text)
    if frame.empty:
        warnings.append(f"{path.name} has a header but no rows: no request metrics")
    _check_boolean(path, frame["ok"], empty_ok=False)
    _check_boolean(path, frame["quality_ok"], empty_ok=True)  # empty: not checked
    return _finish_requests(frame)


def _request_store(root: Path, warnings: list[str], status: str | None) -> Path:
    """Which file holds the requests: ``requests.parquet`` while it is as new as
    ``requests.csv``, else the CSV. A large CSV that will not grow any more (its run is
    closed and its last line whole) is converted first, so this and every later reader
    reads Parquet."""
    csv, parquet = root / REQUESTS_CSV, root / REQUESTS_PARQUET
    if not csv.is_file():
        return parquet
    size = csv.stat().st_size
    current = parquet.is_file() and parquet_source_bytes(parquet) == size
    if current:
        return parquet
    if status in _WRITER_CLOSED and size >= COLUMNAR_MIN_BYTES:
        try:
            _check_text(csv, REQUEST_COLUMNS_REQUIRED)  # its header, and its last line whole
        except QiLoadError:
            return csv  # its reader says what is wrong, or leaves the cut-off line out
        try:
            csv_to_parquet(csv, parquet)
            return parquet
        except (QiLoadError, OSError) as exc:
            warnings.append(f"{REQUESTS_PARQUET} not written ({exc}): {REQUESTS_CSV} read")
            return csv
    if parquet.is_file():
        warnings.append(
            f"{REQUESTS_PARQUET} is out of date ({REQUESTS_CSV} changed after it was "
            f"written): {REQUESTS_CSV} read"
        )
    return csv


def _read_parquet(path: Path, dtypes: Mapping[str, Any], required: Sequence[str]) -> pd.DataFrame:
    """The columns of ``dtypes`` the file has, as pandas reads them from the CSV: booleans
    as 1.0 / 0.0 / NaN, labels as categoricals, each number in its field-table dtype."""
    # malloc, not Arrow's mimalloc: that keeps what it freed for its own reuse, and the
    # analysis after this allocates with malloc, so the peak held both (3.0-4.2 GB at 10
    # million rows, against 2.9 GB).
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        missing = [c for c in required if c not in names]
        if missing:
            shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
            raise QiLoadError(f"{path}: wrong columns: missing {shown}")
        table = source.read(columns=[c for c in names if c in dtypes])  # in file order
    except (OSError, pa.ArrowException) as exc:
        raise QiLoadError(f"{path}: not a readable Parquet file ({exc})") from None
    columns = {}
    for name in table.column_names:
        column, dtype = table.column(name), dtypes[name]
        if pa.types.is_boolean(column.type):
            columns[name] = pc.cast(column, pa.float64())
        elif dtype == "category" and not pa.types.is_dictionary(column.type):
            columns[name] = pc.dictionary_encode(column)
        elif dtype in ("float32", "float64", "int64"):
            columns[name] = pc.cast(column, pa.from_numpy_dtype(np.dtype(dtype)))
        else:
            columns[name] = column
    typed = pa.table(columns)
    del table, columns  # the only references left: to_pandas frees each column as it goes
    frame: pd.DataFrame = typed.to_pandas(
        self_destruct=True, split_blocks=True, types_mapper={pa.string(): pd.StringDtype()}.get
    )
    del typed
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            # In the CSV reader's order (sorted), not first appearance: groups iterate in it.
            values = frame[name].cat.categories
            frame[name] = frame[name].cat.reorder_categories(values.sort_values())
    _check_numbers(path, frame)
    return frame


def _check_boolean(path: Path, column: pd.Series, *, empty_ok: bool) -> None:
    if pd.api.types.is_float_dtype(column.dtype):  # from Parquet: 1.0 / 0.0 / NaN only
        missing = np.isnan(column.to_numpy(np.float64))
        if missing.any() and not empty_ok:
            raise QiLoadError(
                f"{_row(path, int(np.argmax(missing)))}: column {column.name!r} is empty"
            )
        return
    cat = column.astype("category")
    bad = [c for c in cat.cat.categories if str(c).strip().lower() not in _BOOLEAN]
    missing = cat.isna().to_numpy()
    if bad or (missing.any() and not empty_ok):
        rows = cat.isin(bad).to_numpy() | (missing & (not empty_ok))
        row = int(np.argmax(rows))
        value = "" if missing[row] else str(cat.iloc[row])
        raise QiLoadError(
            f"{_row(path, row)}: column {column.name!r}: {value!r} is not true or false"
        )


def _finish_requests(frame: pd.DataFrame) -> pd.DataFrame:
    frame["ok"] = _truthy(frame["ok"]) == 1.0
    for col, dtype in _REQUEST_OPTIONAL.items():
        if col not in frame:
            frame[col] = pd.Series(np.nan, index=frame.index, dtype=dtype)
    frame["retries"] = frame["retries"].fillna(0.0)
    frame["quality_ok"] = _truthy(frame["quality_ok"])
    # Rows from a foreign writer may leave these empty: grouping and counting need a label.
    frame["query_type"] = _label_empty(frame["query_type"])
    frame["error_kind"] = _label_empty(frame["error_kind"], only=~frame["ok"].to_numpy())
    # When a request ended: what places it in a stage's window.
    frame["ts_end"] = request_end(frame["ts_start"].to_numpy(), frame["e2e_ms"].to_numpy())
    return frame


def _label_empty(column: pd.Series, only: npt.NDArray[np.bool_] | None = None) -> pd.Series:
    """``column`` with its empty cells labelled ``UNKNOWN``; ``only`` limits that to some
    rows (the others stay empty, e.g. no error kind on a success, which reads as none)."""
    cat = column.astype("category")
    empty: npt.NDArray[np.bool_] = cat.isna().to_numpy(dtype=bool)
    if only is not None:
        empty = empty & only
    if not empty.any():
        return cat
    if UNKNOWN not in cat.cat.categories:
        cat = cat.cat.add_categories([UNKNOWN])
    return cat.mask(empty, UNKNOWN)


def _truthy(column: pd.Series) -> np.ndarray:
    """1.0 / 0.0 / NaN (empty cell) from a boolean-ish categorical column, decided per category."""
    if pd.api.types.is_float_dtype(column.dtype):  # already that (from Parquet)
        return np.asarray(column.to_numpy(np.float64), dtype=np.float64)
    cat = column.astype("category")
    truth = np.array([str(c).strip().lower() in _TRUE for c in cat.cat.categories] + [np.nan])
    return np.asarray(truth[cat.cat.codes.to_numpy()], dtype=np.float64)


def _read_samples(path: Path, warnings: list[str], closed: bool) -> pd.DataFrame | None:
    text = _check_text(path, HOST_COLUMNS_REQUIRED, warnings, closed)
    if text is None:
        return None
    frame = _read_csv(path, {**_HOST_DTYPES, **_HOST_OPTIONAL}, text)
    if frame.empty:
        warnings.append(f"{HOST_SAMPLES_CSV} has a header but no rows: no resource metrics")
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def _read_small(path: Path, required: Sequence[str], warnings: list[str]) -> pd.DataFrame | None:
    """One of Locust's own CSVs: optional, and rewritten in place every second, so a run
    killed mid-rewrite leaves it empty or cut; then it is left out with a warning."""
    if not path.is_file():
        return None
    try:
        _check_text(path, required)
        return pd.read_csv(path, dtype=str, engine="c", keep_default_na=False)
    except (QiLoadError, pd.errors.ParserError, ValueError) as exc:
        warnings.append(f"{path.name} left out: {str(exc).removeprefix(str(path) + ': ')}")
        return None


def _empty(dtypes: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})
