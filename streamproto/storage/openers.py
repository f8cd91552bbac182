"""Open storage from TLL URLs: ``file://PATH;...`` and ``rotate+file://DIR/PREFIX;...``.

Parameters (a ``file.NAME`` key overrides ``NAME``, as under the reference's ``rotate+``):
``dir`` (r | w, also in/out), ``block`` (size, default 1mb), ``compression`` (none | lz4),
``version`` (0 | 1 | stable), ``io`` (mmap | posix), ``extra-space`` (size), ``autoseq``,
``access-mode`` (octal), ``scheme`` (URL), ``overwrite`` (writer), ``seq`` and ``mode``
(seq | last | end, reader), ``filename-key`` (first | last, rotate writer), ``buffer`` (bytes
batched before a write; this package's extension: a record is stored, and acknowledged, by the
write of its batch, see :mod:`streamproto.storage.writer`). Keyword arguments given to the open
functions override URL parameters and use Python names (``extra_space=4096``).
"""
from __future__ import annotations

import glob
import os
from typing import Any

from streamproto.config import Url, parse_bool, parse_int, parse_size, parse_url
from streamproto.errors import ConfigError, StorageError
from streamproto.storage.reader import FileReader
from streamproto.storage.rotate import RotateReader, RotateWriter
from streamproto.storage.writer import FileWriter

PROTOS = ("file", "rotate+file")
_VERSIONS = {"0": 0, "1": 1, "stable": 0}
_DIRS = {"r": "r", "in": "r", "w": "w", "out": "w"}


def _url(source: str | Url) -> Url:
    u = source if isinstance(source, Url) else parse_url(source)
    if u.proto not in PROTOS:
        raise ConfigError(f"unsupported storage protocol {u.proto!r} (expected file:// or rotate+file://)")
    if not u.host:
        raise ConfigError(f"storage URL {str(u)!r} has no file name")
    return u


def storage_options(source: str | Url) -> tuple[Url, dict[str, Any]]:
    """Parse a storage URL into (Url, keyword options for the reader/writer classes)."""
    u = _url(source)
    pre = ("file",)
    opts: dict[str, Any] = {}
    get = lambda name, conv=None: u.get(name, None, conv, prefixes=pre)  # noqa: E731
    opts["dir"] = u.choice("dir", _DIRS, "r", prefixes=pre)
    if get("block") is not None:
        opts["block"] = get("block", parse_size)
    if get("compression") is not None:
        opts["compression"] = u.choice("compression", {"none": "none", "lz4": "lz4"}, "none", pre)
    if get("version") is not None:
        opts["version"] = u.choice("version", _VERSIONS, 0, pre)
    if get("io") is not None:
        opts["io"] = u.choice("io", {"mmap": "mmap", "posix": "posix"}, "mmap", pre)
    for key, name, conv in (("extra-space", "extra_space", parse_size),
                            ("autoseq", "autoseq", parse_bool),
                            ("overwrite", "overwrite", parse_bool),
                            ("seq", "seq", parse_int),
                            ("buffer", "buffer", parse_size)):
        if get(key) is not None:
            opts[name] = get(key, conv)
    if get("access-mode") is not None:
        raw = get("access-mode")
        try:
            opts["access_mode"] = int(raw, 8)
        except ValueError:
            raise ConfigError(f"parameter 'access-mode': invalid octal mode {raw!r}") from None
    if get("mode") is not None:
        opts["mode"] = u.choice("mode", {"seq": "seq", "last": "last", "end": "end"}, "seq", pre)
    if get("scheme"):
        opts["scheme"] = get("scheme")
    if u.get("filename-key") is not None:
        opts["filename_key"] = u.choice("filename-key", {"first": "first", "last": "last"}, "first")
    return u, opts


_READER_KEYS = {"scheme", "seq", "mode"}
_WRITER_KEYS = {"block", "compression", "version", "io", "extra_space", "autoseq", "overwrite",
                "access_mode", "scheme", "buffer", "stored_scheme"}


def open_reader(source: str | Url, **kwargs: Any) -> FileReader | RotateReader:
    """Reader for a storage URL (``dir`` is ignored); kwargs override URL parameters."""
    u, opts = storage_options(source)
    opts.update(kwargs)
    kw = {k: v for k, v in opts.items() if k in _READER_KEYS}
    if u.proto == "file":
        return FileReader(u.host, **kw)
    if kw.pop("mode", "seq") != "seq":
        raise ConfigError("rotate+file readers support only mode=seq")
    return RotateReader(u.host, **kw)


def open_writer(source: str | Url, **kwargs: Any) -> FileWriter | RotateWriter:
    """Writer for a storage URL; kwargs override URL parameters."""
    u, opts = storage_options(source)
    opts.update(kwargs)
    kw = {k: v for k, v in opts.items() if k in _WRITER_KEYS}
    if u.proto == "file":
        return FileWriter(u.host, **kw)
    kw.pop("overwrite", None)
    if "filename_key" in opts:
        kw["filename_key"] = opts["filename_key"]
    directory = os.path.dirname(u.host)
    if directory and not os.path.isdir(directory):   # a rotate set's directory is created
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise StorageError(f"{u.host}: cannot create directory {directory}: "
                               f"{e.strerror}") from None
    return RotateWriter(u.host, **kw)


def open_storage(source: str | Url, **kwargs: Any) -> FileReader | RotateReader | FileWriter | RotateWriter:
    """Reader or writer depending on the ``dir`` parameter (default ``r``)."""
    _, opts = storage_options(source)
    if kwargs.get("dir", opts["dir"]) == "w":
        kwargs.pop("dir", None)
        return open_writer(source, **kwargs)
    kwargs.pop("dir", None)
    return open_reader(source, **kwargs)


def resolve_source(source: str) -> str:
    """A CLI SOURCE (URL, ``.dat`` path or rotate prefix such as ``storage/output``) as a URL."""
    if "://" in source:
        return source
    if os.path.isfile(source):
        return "file://" + source
    if os.path.exists(source):
        what = "a directory" if os.path.isdir(source) else "not a regular file"
        raise StorageError(f"{source}: {what}, not a storage file (or rotate prefix)")
    d, prefix = os.path.split(source)
    if prefix and glob.glob(os.path.join(glob.escape(d or "."), glob.escape(prefix) + ".*.dat")):
        return "rotate+file://" + source
    raise StorageError(f"{source}: no such file, and no rotate set {source}.*.dat")
