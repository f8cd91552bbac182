"""Output files of ``streamproto export``: Parquet, Arrow IPC file and CSV, written batch by batch.

A sink writes to a temporary file beside the output and renames it into place on
:meth:`Sink.commit`, so a failed export never leaves a partial file under the output name.

CSV has no nested or binary values: lists and structs (sub-messages, unions) are written as
JSON text (times as ISO text exact to the nanosecond, decimals and fixed point as text, enums
as names, bytes as hex), binary columns as hex. Times at the top level are ISO text
(``2024-09-09 14:06:11.037913943Z``), durations their count in the column's unit.
"""
from __future__ import annotations

import json
import os
import secrets
from typing import Any

from streamproto.export.table import ExportError, require_arrow

FORMATS = ("parquet", "arrow", "csv")
EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow",
              ".ipc": "arrow", ".csv": "csv"}


def format_of(path: str, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the extension of `path`."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in EXTENSIONS:
        raise ExportError(f"cannot tell the format of {path!r} from its extension "
                          f"{ext or '(none)'!s}: use {', '.join(sorted(EXTENSIONS))} or --format "
                          f"{'|'.join(FORMATS)}")
    return EXTENSIONS[ext]


def check_output(path: str) -> str:
    """The directory the output goes to; ExportError when it is missing or `path` is a directory."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ExportError(f"cannot write {path}: directory {os.path.dirname(path) or directory} does not exist")
    if os.path.isdir(path):
        raise ExportError(f"cannot write {path}: it is a directory")
    return directory


# -- CSV conversion --------------------------------------------------------------------------------
def _json_leaves(arr: Any) -> Any:
    """`arr` with every leaf in a JSON-exact form (see module docstring)."""
    pa = require_arrow()
    t = arr.type
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        kids = [_json_leaves(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(kids, names=[f.name for f in fields], mask=mask)
    if pa.types.is_list(t):
        return pa.ListArray.from_arrays(arr.offsets, _json_leaves(arr.values), mask=mask)
    return _flat(arr)


def _flat(arr: Any) -> Any:
    """A non-nested column as CSV (and JSON) can hold it."""
    pa = require_arrow()
    t = arr.type
    if pa.types.is_dictionary(t):
        return arr.cast(t.value_type)
    if pa.types.is_timestamp(t) or pa.types.is_decimal(t):
        return arr.cast(pa.string())
    if pa.types.is_duration(t):
        return arr.cast(pa.int64())
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return pa.array([None if v is None else v.hex() for v in arr.to_pylist()], type=pa.string())
    return arr


def csv_batch(batch: Any) -> Any:
    """A record batch with only CSV-writable columns (see module docstring)."""
    pa = require_arrow()
    cols = []
    for arr in batch.columns:
        t = arr.type
        if pa.types.is_struct(t) or pa.types.is_list(t):
            vals = _json_leaves(arr).to_pylist()
            arr = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in vals],
                           type=pa.string())
        elif pa.types.is_binary(t):
            arr = _flat(arr)
        elif pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_decimal(t) \
                or pa.types.is_dictionary(t):
            pass      # the CSV writer prints these exactly
        cols.append(arr)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


# -- sinks -----------------------------------------------------------------------------------------
class Sink:
    """Writes record batches of one schema to `path` in `fmt` (see module docstring)."""

    def __init__(self, path: str, fmt: str, schema: Any):
        pa = require_arrow()
        self.path, self.fmt = path, fmt
        directory = check_output(path)
        self.tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.part")
        try:   # the permissions a new file would get (mkstemp's are 0600)
            os.close(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror}") from None
        self.rows = 0
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq
                self._w: Any = pq.ParquetWriter(self.tmp, schema)
            elif fmt == "arrow":
                self._w = pa.ipc.new_file(self.tmp, schema,
                                          options=pa.ipc.IpcWriteOptions(emit_dictionary_deltas=True))
            else:
                import pyarrow.csv as pcsv
                self._w = None
                self._csv = pcsv
                self._schema = schema
        except BaseException:
            self.abort()
            raise

    def write(self, batch: Any) -> None:
        """Append one record batch."""
        if self.fmt == "csv":
            batch = csv_batch(batch)
            if self._w is None:
                self._w = self._csv.CSVWriter(self.tmp, batch.schema)
        self._w.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> None:
        """Finish the file and move it to the output path."""
        if self._w is None and self.fmt == "csv":     # no rows: still a header line
            self.write(self._empty())
        self._w.close()
        os.replace(self.tmp, self.path)

    def _empty(self) -> Any:
        pa = require_arrow()
        return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in self._schema], schema=self._schema)

    def abort(self) -> None:
        """Drop the temporary file (after an error)."""
        try:
            if getattr(self, "_w", None) is not None:
                self._w.close()
        except (OSError, ValueError):   # closing a half-written file may fail: it is deleted anyway
            pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass
