"""``requests.parquet``: the columnar store of a run's requests, written from ``requests.csv``.

``requests.csv`` stays the crash-safe log the master appends to while a run goes (a cut-off
last line loses one row, a cut-off Parquet file loses all). Once the run is closed, its rows
are copied into ``requests.parquet`` (typed by the field table, compressed, read in a
fraction of the time), which every reader then prefers while it is up to date: it records
the size of the CSV it was made from, so rows appended afterwards send readers back to the
CSV. The master writes it when it closes a large run (``python -m qi_load.record.columnar
RUN_DIR``, in a child process: pyarrow never loads in a Locust process), and
``qi_load.analyze.load`` when it first reads a large closed run without one.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from qi_load.errors import QiLoadError
from qi_load.record.rundir import REQUESTS_CSV, REQUESTS_PARQUET
from qi_load.record.schema import REQUEST_TABLE, Field

__all__ = [
    "SOURCE_BYTES_KEY",
    "arrow_schema",
    "arrow_type",
    "csv_to_parquet",
    "main",
    "parquet_source_bytes",
    "request_schema",
]

SOURCE_BYTES_KEY: Final = b"qi_load.source_csv_bytes"
"""Parquet footer key: the byte size of the ``requests.csv`` the file was made from."""
_TRUE: Final = ["true", "True", "TRUE", "1", "1.0"]
_FALSE: Final = ["false", "False", "FALSE", "0", "0.0"]
_ROW_GROUP: Final = 1 << 20
"""Rows per Parquet row group: big enough to compress well, small enough to write in
bounded memory."""
_BLOCK_BYTES: Final = 16 << 20
"""CSV bytes parsed per batch: what the conversion holds in memory at once."""


def arrow_type(f: Field) -> pa.DataType:
    """The Arrow type of one field: its Python kind; labels the analysis groups by (pandas
    ``category``) dictionary-encoded, so a reader gets a categorical without a pass."""
    if f.kind is bool:
        return pa.bool_()
    if f.kind is float:
        return pa.float64()
    if f.kind is int:
        return pa.int64()
    if f.column.dtype == "category":
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


def arrow_schema(table: Sequence[Field]) -> pa.Schema:
    """The Arrow schema of a record's CSV columns, in file order, each with its unit.

    Every column is nullable: an empty cell is "not measured" (or, for a column added
    later, absent from an older file)."""
    return pa.schema(
        [
            pa.field(f.name, arrow_type(f), nullable=True, metadata={"unit": f.column.unit})
            for f in table
            if f.column.csv
        ]
    )


def request_schema() -> pa.Schema:
    return arrow_schema(REQUEST_TABLE)


def _batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``path``'s rows typed by ``schema``; a column the file lacks (older than the column)
    reads as null, a column the schema lacks is left out."""
    convert = pa_csv.ConvertOptions(
        column_types={f.name: f.type for f in schema},
        include_columns=schema.names,
        include_missing_columns=True,
        null_values=[""],
        strings_can_be_null=True,
        true_values=_TRUE,
        false_values=_FALSE,
    )
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_BLOCK_BYTES),
        convert_options=convert,
    )
    for batch in reader:
        yield pa.RecordBatch.from_arrays(
            [batch.column(name) for name in schema.names], schema=schema
        )


def csv_to_parquet(csv_path: Path, parquet_path: Path, schema: pa.Schema | None = None) -> int:
    """Write ``csv_path``'s rows to ``parquet_path`` in bounded memory; return the rows.

    The file appears whole or not at all (written beside it, then renamed). Raises
    ``QiLoadError`` naming the file when a cell does not parse as its column's type: the
    CSV is then the only store and its reader names the line.
    """
    schema = schema or request_schema()
    source = csv_path.stat().st_size
    tmp = parquet_path.with_name(f".{parquet_path.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(
            tmp,
            schema.with_metadata({SOURCE_BYTES_KEY: str(source).encode()}),
            compression="zstd",
        ) as writer:
            for batch in _batches(csv_path, schema):
                writer.write_batch(batch, row_group_size=_ROW_GROUP)
                rows += batch.num_rows
        os.replace(tmp, parquet_path)
    except pa.ArrowInvalid as exc:
        raise QiLoadError(f"{csv_path}: not converted to Parquet: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return rows


def parquet_source_bytes(path: Path) -> int | None:
    """The size of the CSV ``path`` was made from (``None``: not one of ours, or unreadable)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    value = meta.get(SOURCE_BYTES_KEY)
    return int(value) if value is not None and value.isdigit() else None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qi_load.record.columnar RUN_DIR``: write RUN_DIR's requests.parquet."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m qi_load.record.columnar RUN_DIR", file=sys.stderr)
        return 2
    root = Path(args[0])
    try:
        rows = csv_to_parquet(root / REQUESTS_CSV, root / REQUESTS_PARQUET)
    except (QiLoadError, OSError) as exc:
        print(f"qi-load: {REQUESTS_PARQUET} not written: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root / REQUESTS_PARQUET} ({rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
