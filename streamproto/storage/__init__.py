"""TLL storage: ``file://`` files and ``rotate+file://`` sets, byte-compatible with TLL.

Open from a URL (or use the classes directly with keyword arguments)::

    from streamproto.storage import open_reader, open_writer
    with open_writer("file://out.dat;block=4kb;compression=lz4;version=1;scheme=yaml://t.yaml") as w:
        w.post(10, 0, body)                 # msgid, seq, body -> seq; w.last_seq; w.flush()
    with open_reader("rotate+file://dir/out") as r:
        r.seek(100)                         # block bisection
        for msg in r:                       # events.Data (msgid, seq, body; kind DATA) and,
            ...                             # for rotate sets, Control('Rotate', 150) between files
        for msg in r.follow(timeout=1.0):   # keep reading what is appended / rotated
            rec = r.decode(msg)

Writers: :class:`FileWriter`, :class:`RotateWriter` (``post``, ``rotate``, ``flush``,
``last_seq``, ``first_seq``); a post returns once stored, a write that fails (full disk) raises
:class:`StorageWriteError` and leaves the file and the writer at the last stored record. Readers: :class:`FileReader`, :class:`RotateReader` (iteration,
``read``, ``seek``, ``follow``, ``decode``, ``bounds``/``first_seq``/``last_seq``; ``read_runs``
hands out runs of equal-size uncompressed records and of LZ4 records as validated
``cursor.RecordRun`` / ``cursor.Lz4Run`` items instead of a ``Data`` per record, for the stream
server's shared history).
Modules: format (bytes), cursor (record walker), reader, writer, rotate, url.
"""
from streamproto.storage.format import FileMeta, StorageFormatError
from streamproto.storage.reader import FileReader
from streamproto.storage.rotate import RotateFile, RotateReader, RotateWriter, scan
from streamproto.storage.openers import open_reader, open_storage, open_writer, resolve_source, storage_options
from streamproto.storage.writer import FileWriter, SeqError, StorageWriteError

__all__ = [
    "FileMeta", "StorageFormatError", "FileReader", "FileWriter", "SeqError", "StorageWriteError",
    "RotateFile", "RotateReader", "RotateWriter", "scan",
    "open_reader", "open_writer", "open_storage", "resolve_source", "storage_options",
]
