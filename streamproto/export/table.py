"""``read_table`` / ``read_tables`` / ``iter_batches``: storage sources as Arrow record batches.

A source is what ``streamproto read`` takes: a ``.dat`` path, a rotate prefix, a ``file://`` or
``rotate+file://`` URL (``scheme=`` in the URL or the ``scheme`` argument overrides the stored
scheme). One table holds one message type: ``seq`` (int64), then the message's columns as
:mod:`tllschema.arrow` maps them. Without a scheme the columns are ``seq``, ``msgid`` (int32)
and ``body`` (binary).

Batches follow the file in windows of about 16 MiB, so memory stays bounded on any file size.
Fixed-layout messages are decoded column by column (:meth:`MessageColumns.from_rows`), others
record by record.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from streamproto.errors import StreamprotoError
from streamproto.export.bodies import Bodies, file_bodies

Progress = Callable[[int, int], None]


class ExportError(StreamprotoError):
    """A table cannot be made: unknown message or column, several message types, a value."""


class MissingExtra(StreamprotoError, ImportError):
    """pyarrow or numpy is missing; the message says how to install the ``arrow`` extra."""


def require_arrow() -> Any:
    """pyarrow, or MissingExtra naming ``pip install 'streamproto[arrow]'``."""
    from tllschema.arrow import ArrowUnavailable
    from tllschema.arrow import require_arrow as _require
    try:
        return _require()
    except ArrowUnavailable as e:
        raise MissingExtra(str(e)) from None


# -- sources ---------------------------------------------------------------------------------------
@dataclass
class SourceFile:
    """One storage file of a source, with the scheme its records are decoded with (or None)."""

    path: str
    scheme: Any
    size: int


def open_source(source: str | os.PathLike, scheme: Any = None, lo: int | None = None,
                hi: int | None = None) -> tuple[list[SourceFile], dict]:
    """The files of a source in seq order (a rotate set's current file last) and URL options.

    Files of a rotate set holding no seq in ``lo..hi`` are left out (``seq=`` in the URL
    counts as ``lo`` when none is given).
    """
    from streamproto.storage import FileReader, resolve_source, scan, storage_options
    from streamproto.storage.rotate import split_prefix
    url, opts = storage_options(resolve_source(os.fspath(source)))
    if scheme is None:
        scheme = opts.get("scheme")
    if lo is None:
        lo = opts.get("seq")
    if url.proto == "file":
        paths = [url.host]
    else:
        directory, prefix = split_prefix(url.host)
        members = scan(directory, prefix)
        if not members:
            raise ExportError(f"rotate set {url.host!r}: no files")
        paths = [f.path for f in members
                 if not ((lo is not None and f.last is not None and f.last < lo)
                         or (hi is not None and f.first is not None and f.first > hi))]
        paths = paths or [members[-1].path]       # nothing in range: still a scheme to name
    files = []
    for p in paths:
        with FileReader(p, scheme=scheme) as r:
            files.append(SourceFile(p, r.scheme, os.path.getsize(p)))
    return files, opts


def parse_seq(seq: Any) -> tuple[int | None, int | None]:
    """``None``, ``(A, B)`` (inclusive, either None), an int (just that seq) or ``'A:B'`` text."""
    if seq is None:
        return None, None
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq, seq
    if isinstance(seq, str):
        a, sep, b = seq.partition(":")
        try:
            lo = int(a) if a.strip() else None
            hi = int(b) if b.strip() else None
        except ValueError:
            raise ExportError(f"invalid seq range {seq!r}: expected A:B with integer seqs") from None
        return (lo, hi) if sep else (lo, lo)
    if isinstance(seq, (tuple, list)) and len(seq) == 2:
        return seq[0], seq[1]
    raise ExportError(f"invalid seq range {seq!r}: expected (A, B), an int or 'A:B'")


def _bodies(files: list[SourceFile], lo: int | None, hi: int | None) -> Iterator[tuple[SourceFile, int, Bodies]]:
    """(file, bytes of the files before it, chunk) over every file, in order, seqs growing."""
    before = 0
    prev: int | None = None
    for f in files:
        for ch in file_bodies(f.path, seq=lo, last=hi, scheme=f.scheme):
            if len(ch) and prev is not None and int(ch.seq[0]) <= prev:
                raise ExportError(f"{f.path}: seq {int(ch.seq[0])} does not follow seq {prev} of the "
                                  f"file before it")
            if len(ch):
                prev = int(ch.seq[-1])
            yield f, before, ch
            if hi is not None and prev is not None and prev > hi:
                return
        before += f.size


def _select(ch: Bodies, msgid: int | None, lo: int | None, hi: int | None) -> Any:
    mask = None
    for cond in ((ch.msgid == msgid) if msgid is not None else None,
                 (ch.seq >= lo) if lo is not None else None,
                 (ch.seq <= hi) if hi is not None else None):
        if cond is not None:
            mask = cond if mask is None else mask & cond
    return mask


# -- one message type ------------------------------------------------------------------------------
class _Target:
    """How the records of one msgid become record batches."""

    def __init__(self, msg: Any, columns: Sequence[str] | None):
        pa = require_arrow()
        self.msg = msg
        self.columns = [c for c in columns if c != "seq"] if columns is not None else None
        seq_field = pa.field("seq", pa.int64(), nullable=False)
        if msg is None:
            raw = [seq_field, pa.field("msgid", pa.int32(), nullable=False),
                   pa.field("body", pa.binary(), nullable=False)]
            known = [f.name for f in raw]
            bad = [c for c in columns or () if c not in known]
            if bad:
                raise ExportError(f"no column {', '.join(map(repr, bad))} in raw records (columns: "
                                  f"{', '.join(known)})")
            self.schema = pa.schema([f for f in raw if self.columns is None or f.name == "seq"
                                     or f.name in self.columns])
            self.mc = None
            return
        from tllschema.arrow_columns import MessageColumns
        from tllschema.errors import SchemeError
        try:
            self.mc = MessageColumns(msg, self.columns)
        except SchemeError as e:
            raise ExportError(str(e)) from None
        self.schema = pa.schema([seq_field] + self.mc.fields, metadata={
            b"tll.message": msg.name.encode(), b"tll.msgid": str(msg.msgid).encode()})

    def rebind(self, msg: Any, path: str) -> None:
        """Use the same message as found in another file's scheme (same columns required)."""
        if msg is self.msg or self.mc is None:
            return
        other = _Target(msg, self.columns)
        if other.schema != self.schema or msg.msgid != self.msg.msgid:
            raise ExportError(f"{path}: message {msg.name} differs from the one in the files "
                              f"before it (its columns or msgid changed)")
        assert other.mc is not None
        other.mc._dicts = self.mc._dicts          # keep the dictionaries growing as one
        self.msg, self.mc = msg, other.mc

    def batch(self, ch: Bodies, mask: Any, path: str) -> Any:
        """The selected records of a chunk as a RecordBatch (None when there are none)."""
        pa = require_arrow()
        import numpy as np
        if mask is None:
            pos, size, seq, msgid = ch.pos, ch.size, ch.seq, ch.msgid
        else:
            pos, size, seq, msgid = ch.pos[mask], ch.size[mask], ch.seq[mask], ch.msgid[mask]
        n = len(pos)
        if not n:
            return None
        cols: list = [pa.array(seq, type=pa.int64())]
        if self.mc is None:
            names = self.schema.names
            if "msgid" in names:
                cols.append(pa.array(msgid, type=pa.int32()))
            if "body" in names:
                offsets = np.zeros(n + 1, dtype=np.int64)
                np.cumsum(size, out=offsets[1:])
                idx = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1] - pos, size)
                data = ch.buf[idx]
                cols.append(pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)),
                                                                   pa.py_buffer(data)]))
            return pa.RecordBatch.from_arrays(cols, schema=self.schema)
        from tllschema.arrow_columns import NeedsRecordPath, RowError
        from tllschema.errors import SchemeError
        mc = self.mc
        arrays = None
        S = mc.size
        if mc.fixed and (size >= S).all():
            rows = _fixed_parts(ch, mask, n, S)
            try:
                arrays = mc.from_rows(rows)
            except NeedsRecordPath:
                arrays = None
        if arrays is None:
            mv = memoryview(ch.buf)
            bodies = [bytes(mv[p:p + s]) for p, s in zip(pos.tolist(), size.tolist())]
            try:
                arrays = mc.from_bodies(bodies)
            except RowError as e:
                raise ExportError(f"{path}: seq {int(seq[e.row])} msgid {int(msgid[e.row])}: {e.reason}") from None
            except SchemeError as e:
                raise ExportError(f"{path}: {e}") from None
        return pa.RecordBatch.from_arrays(cols + arrays, schema=self.schema)


def _fixed_parts(ch: Bodies, mask: Any, n: int, S: int) -> Any:
    """``(n, S)`` uint8 matrix of the first S bytes of the selected bodies, copied run by run."""
    import numpy as np
    out = np.empty(n, dtype=f"V{S}")          # whole items: one copy per body, not per byte
    rows = out.view(np.uint8).reshape(n, S)
    k = 0
    for run in ch.runs:
        i0, count = run[0], run[1]
        if mask is None:
            out[k:k + count] = ch.strided(run, S)
            k += count
            continue
        m = mask[i0:i0 + count]
        c = int(m.sum())
        if c:   # only runs holding selected bodies, which are known to be >= S bytes
            out[k:k + c] = ch.strided(run, S)[m]
            k += c
    assert k == n
    return rows


def _message_of(scheme: Any, key: Any, where: str) -> Any:
    from tllschema.errors import SchemeError
    if isinstance(key, str) and key.strip().lstrip("-").isdigit():
        key = int(key)
    try:
        return scheme.message(key)
    except SchemeError:
        known = ", ".join(f"{m.name} ({m.msgid})" for m in scheme.messages if m.msgid) or "none"
        raise ExportError(f"{where}: unknown message {key!r} (messages with a msgid: {known})") from None


def _type_counts(files: list[SourceFile], lo: int | None, hi: int | None) -> dict[int, int]:
    import numpy as np
    counts: dict[int, int] = {}
    for _, _, ch in _bodies(files, lo, hi):
        mask = _select(ch, None, lo, hi)
        ids = ch.msgid if mask is None else ch.msgid[mask]
        for k, c in zip(*np.unique(ids, return_counts=True)):
            counts[int(k)] = counts.get(int(k), 0) + int(c)
    return counts


def _names(files: list[SourceFile], counts: dict[int, int]) -> str:
    sch = next((f.scheme for f in files if f.scheme is not None), None)
    out = []
    for k, c in sorted(counts.items()):
        m = sch.by_msgid.get(k) if sch is not None else None
        out.append(f"{m.name} (msgid {k}): {c}" if m is not None else f"msgid {k} (not in the scheme): {c}")
    return "; ".join(out)


@dataclass
class BatchStream:
    """The schema of a table and an iterator over its record batches."""

    schema: Any
    message: Any
    batches: Iterator[Any]


def iter_batches(source: str | os.PathLike, *, message: str | int | None = None, seq: Any = None,
                 columns: Sequence[str] | None = None, scheme: Any = None,
                 progress: Progress | None = None) -> BatchStream:
    """Record batches of one message type of a source (see :func:`read_table`).

    ``progress(done_bytes, total_bytes)`` is called after every batch.
    """
    require_arrow()
    lo, hi = parse_seq(seq)
    files, opts = open_source(source, scheme, lo, hi)
    if lo is None and "seq" in opts:
        lo = opts["seq"]
    sch = next((f.scheme for f in files if f.scheme is not None), None)
    where = os.fspath(source)
    msg = None
    msgid: int | None = None
    only = False         # the scheme's only message was picked without looking at the data
    if message is not None:
        if sch is None:
            key = message
            if isinstance(key, str) and key.strip().lstrip("-").isdigit():
                key = int(key)
            if not isinstance(key, int):
                raise ExportError(f"{where}: no scheme, so no message {message!r}; give a msgid, "
                                  f"a scheme (scheme=...) or no message for the raw records")
            msgid = key
        else:
            msg = _message_of(sch, message, where)
            msgid = msg.msgid
    elif sch is not None and len([m for m in sch.messages if m.msgid]) == 1:
        msg = next(m for m in sch.messages if m.msgid)   # other msgids are refused as they come
        msgid = msg.msgid
        only = True
    elif sch is not None:
        counts = _type_counts(files, lo, hi)
        if len(counts) > 1:
            raise ExportError(f"{where} holds several message types, choose one with --message "
                              f"(message=): {_names(files, counts)}")
        if counts:
            msgid = next(iter(counts))
            msg = sch.by_msgid.get(msgid)
        else:
            with_id = [m for m in sch.messages if m.msgid]
            if len(with_id) != 1:
                raise ExportError(f"{where} holds no messages in this range, choose a message with "
                                  f"--message (message=): {', '.join(m.name for m in with_id) or 'none'}")
            msg = with_id[0]
            msgid = msg.msgid
    target = _Target(msg, columns)
    total = sum(f.size for f in files) or 1

    def run() -> Iterator[Any]:
        for f, before, ch in _bodies(files, lo, hi):
            if only:
                mask = _select(ch, None, lo, hi)
                ids = ch.msgid if mask is None else ch.msgid[mask]
                if len(ids) and (ids != msgid).any():
                    import numpy as np
                    seqs = ch.seq if mask is None else ch.seq[mask]
                    counts = {int(k): int(c) for k, c in zip(*np.unique(ids, return_counts=True))}
                    raise ExportError(f"{where} holds several message types, choose one with --message "
                                      f"(message=): {_names(files, counts)} (in {f.path}, seq "
                                      f"{int(seqs[0])}..{int(seqs[-1])})")
            if msg is not None:
                fm = _message_of(f.scheme, msg.name, f.path) if f.scheme is not None else None
                if fm is None:
                    raise ExportError(f"{f.path}: no scheme to decode {msg.name} with")
                target.rebind(fm, f.path)
            b = target.batch(ch, _select(ch, msgid, lo, hi), f.path)
            if progress is not None:
                progress(before + ch.done, total)
            if b is not None:
                yield b
    return BatchStream(target.schema, msg, run())


def read_table(source: str | os.PathLike, *, message: str | int | None = None, seq: Any = None,
               columns: Sequence[str] | None = None, scheme: Any = None) -> Any:
    """One message type of a storage source as a ``pyarrow.Table``: ``seq``, then its columns.

    ``message``: name or msgid; needed when the source holds several types (the error lists
    them; :func:`read_tables` gives them all). ``seq``: inclusive ``(A, B)`` (either may be
    None), one int or ``'A:B'``. ``columns``: the message's columns to keep, in that order.
    ``scheme``: a scheme URL or Scheme for files without one (or to override it).
    Types are mapped as :mod:`tllschema.arrow` documents.
    """
    pa = require_arrow()
    stream = iter_batches(source, message=message, seq=seq, columns=columns, scheme=scheme)
    return pa.Table.from_batches(list(stream.batches), schema=stream.schema)


def read_tables(source: str | os.PathLike, *, seq: Any = None, scheme: Any = None) -> dict[str | None, Any]:
    """Every message type of a source in one pass: ``{message name: Table}``.

    Records whose msgid has no message in the scheme (every record, without a scheme) go to
    one raw table (``seq``, ``msgid``, ``body``) under the key ``None``.
    """
    pa = require_arrow()
    import numpy as np
    lo, hi = parse_seq(seq)
    files, opts = open_source(source, scheme, lo, hi)
    if lo is None and "seq" in opts:
        lo = opts["seq"]
    targets: dict[int | None, _Target] = {}
    out: dict[int | None, list] = {}
    for f, _, ch in _bodies(files, lo, hi):
        mask = _select(ch, None, lo, hi)
        ids = ch.msgid if mask is None else ch.msgid[mask]
        present = [int(x) for x in np.unique(ids)]
        raw_ids = [k for k in present if f.scheme is None or k not in f.scheme.by_msgid]
        for k in present:
            if k in raw_ids:
                continue
            msg = f.scheme.by_msgid[k]
            t = targets.get(k)
            if t is None:
                t = targets[k] = _Target(msg, None)
            else:
                t.rebind(msg, f.path)
            b = t.batch(ch, _select(ch, k, lo, hi), f.path)
            if b is not None:
                out.setdefault(k, []).append(b)
        if raw_ids:
            t = targets.get(None) or targets.setdefault(None, _Target(None, None))
            sel = np.isin(ch.msgid, raw_ids)
            m2 = _select(ch, None, lo, hi)
            b = t.batch(ch, sel if m2 is None else sel & m2, f.path)
            if b is not None:
                out.setdefault(None, []).append(b)
    tables: dict[str | None, Any] = {}
    for key, batches in out.items():
        t = targets[key]
        tables[None if key is None else t.msg.name] = pa.Table.from_batches(batches, schema=t.schema)
    return tables
