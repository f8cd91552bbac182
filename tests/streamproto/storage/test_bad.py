"""Bad input: each a StorageError naming the file and the byte offset."""
from __future__ import annotations

import gc

import pytest

from streamproto.errors import StorageError
from streamproto.storage import FileReader, FileWriter, StorageFormatError


def patch(path, offset, data):
    b = bytearray(path.read_bytes())
    b[offset:offset + len(data)] = data
    path.write_bytes(bytes(b))


def test_not_a_tll_file(tmp_path):
    p = tmp_path / "x.dat"
    p.write_bytes(b"hello world, this is not storage" * 4)
    with pytest.raises(StorageFormatError, match=r"x\.dat at offset 4 .*not a TLL data file"):
        FileReader(p)


@pytest.mark.parametrize("content,match", [(b"", "empty file"), (b"1\0\0\0Meta", "truncated file")])
def test_short_files(tmp_path, content, match):
    p = tmp_path / "s.dat"
    p.write_bytes(content)
    with pytest.raises(StorageFormatError, match=match):
        FileReader(p)


def test_missing_file(tmp_path, caplog):
    with pytest.raises(StorageError, match="cannot open .*nope.dat"):
        FileReader(tmp_path / "nope.dat")
    gc.collect()                    # the half-made reader has nothing to close: nothing logged
    assert "closing when collected" not in caplog.text


def test_unsupported_version_and_compression(gcopy):
    p = gcopy("file/raw-noscheme.dat")
    patch(p, 18, b"\x02")
    with pytest.raises(StorageFormatError, match="offset 18 .*unsupported version 2"):
        FileReader(p)
    patch(p, 18, b"\x00")
    patch(p, 19, b"\x07")
    with pytest.raises(StorageFormatError, match="offset 19 .*unsupported compression 7"):
        FileReader(p)


def test_truncated_metadata(gcopy):
    p = gcopy("file/transaction.dat")
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(StorageFormatError, match="truncated metadata"):
        FileReader(p)


def test_frame_crossing_block(gcopy):
    p = gcopy("file/raw-noscheme.dat")
    patch(p, 49, (2000).to_bytes(4, "little"))
    with pytest.raises(StorageFormatError, match=r"offset 49 \(0x31\): frame size 2000 exceeds block boundary"):
        list(FileReader(p))
    with pytest.raises(StorageFormatError, match="exceeds block boundary"):
        FileWriter(p)


def test_corrupt_lz4_record(gcopy):
    p = gcopy("file/raw-lz4.dat")
    data = bytearray(p.read_bytes())
    data[54:70] = b"\xff" * 16
    p.write_bytes(bytes(data))
    with pytest.raises(StorageFormatError, match=r"offset 49 .*corrupt lz4 record"):
        list(FileReader(p))


def test_unreadable_embedded_scheme(gcopy):
    p = gcopy("file/transaction.dat")
    patch(p, 48 + 11, b"!!!!")             # break the base64 text after "yamls+gz://"
    with FileReader(p) as r:
        assert len(list(r)) == 600          # raw access still works
        with pytest.raises(StorageFormatError, match=r"offset 48 .*unreadable embedded scheme"):
            r.scheme


def test_scheme_pointer_out_of_range(gcopy):
    p = gcopy("file/transaction.dat")
    patch(p, 28, b"\xff\xff\x00")
    with pytest.raises(StorageFormatError, match="offset 24 .*scheme pointer"):
        FileReader(p)


def test_skip_frame_at_block_start(gcopy):
    p = gcopy("file/raw-noscheme.dat")
    patch(p, 1024, b"\xff\xff\xff\xff")
    with pytest.raises(StorageFormatError, match="offset 1024 .*skip frame at the start of block 1"):
        list(FileReader(p))


def test_failed_open_does_not_close_a_reused_descriptor_later(tmp_path):
    """A reader failing in __init__ closes its fd once; its __del__ must not close the number again."""
    import gc
    import os

    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a TLL file at all" * 10)
    try:
        FileReader(bad)
    except StorageError as e:
        kept = e  # like an error handed to another thread: its traceback keeps the reader alive
    other = os.open(tmp_path / "other", os.O_CREAT | os.O_RDWR)  # takes the freed number
    try:
        del kept
        gc.collect()  # the half-built reader goes now
        os.fstat(other)  # still open: the failed reader did not close it a second time
    finally:
        os.close(other)
