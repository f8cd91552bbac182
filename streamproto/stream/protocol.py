"""Byte layouts of the ``stream+`` request channel and of its local control messages.

Request channel (``streamproto/schemas/stream.yaml``, ``docs/network-format.md#request-channel-messages``;
every message travels in a std frame
``{size, msgid, seq=0}``):

==========  =====  ==========  ===================================================================
message     msgid  fixed size  fields
==========  =====  ==========  ===================================================================
RequestOld  11     34          int16 version, int64 seq, string client, string block, *Attribute
Request     12     35          int16 version, string client, *Attribute, union data {uint64 seq,
                               RequestBlock block, int8 initial, int8 last}
Reply       20     32          int64 last_seq, int64 requested_seq, int64 block_seq, string server
Error       30     16          string error, string server
ClientDone  40     8           int64 seq
==========  =====  ==========  ===================================================================

Local controls of a stream client (``streamproto/schemas/stream-control.yaml``, never on the wire): Online 10
(empty), EndOfBlock 11 (empty), BeginOfBlock 12 (int64 last_seq).

Encoders reproduce the reference C++ client byte for byte: a request body starts as a zeroed
35-byte buffer (also for RequestOld, whose tail therefore starts at 35 leaving one zero pad
byte), strings are appended in assignment order (client, then block type), an unset or empty
string is an all-zero pointer. Decoders follow the offset pointers, accept both empty-string
encodings and raise :class:`~streamproto.errors.RemoteProtocolError` (the peer sent it) naming
the message, field and byte offset on anything malformed; encoders raise
:class:`~streamproto.errors.LocalProtocolError` for a value the layout cannot carry.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from streamproto.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "VERSION", "REQUEST_OLD", "REQUEST", "REPLY", "ERROR", "CLIENT_DONE",
    "ONLINE", "END_OF_BLOCK", "BEGIN_OF_BLOCK", "CONTROL_NAMES", "MESSAGE_NAMES",
    "REQUEST_SEQ", "REQUEST_BLOCK", "REQUEST_INITIAL", "REQUEST_LAST", "REQUEST_KINDS",
    "Request", "Reply", "Error", "ClientDone",
    "encode_request", "decode_request", "encode_reply", "decode_reply",
    "encode_error", "decode_error", "encode_client_done", "decode_client_done",
    "encode_begin_of_block", "decode_begin_of_block",
]

VERSION = 1

# request-channel message ids
REQUEST_OLD, REQUEST, REPLY, ERROR, CLIENT_DONE = 11, 12, 20, 30, 40
MESSAGE_NAMES = {REQUEST_OLD: "RequestOld", REQUEST: "Request", REPLY: "Reply", ERROR: "Error",
                 CLIENT_DONE: "ClientDone"}

# local control message ids of a stream client
ONLINE, END_OF_BLOCK, BEGIN_OF_BLOCK = 10, 11, 12
CONTROL_NAMES = {ONLINE: "Online", END_OF_BLOCK: "EndOfBlock", BEGIN_OF_BLOCK: "BeginOfBlock"}

# Request.data union tags (declaration order)
REQUEST_SEQ, REQUEST_BLOCK, REQUEST_INITIAL, REQUEST_LAST = "seq", "block", "initial", "last"
REQUEST_KINDS = (REQUEST_SEQ, REQUEST_BLOCK, REQUEST_INITIAL, REQUEST_LAST)
_TAG = {kind: i for i, kind in enumerate(REQUEST_KINDS)}

_REQUEST_SIZE, _REQUEST_OLD_SIZE = 35, 34
_REPLY_SIZE, _ERROR_SIZE, _DONE_SIZE = 32, 16, 8
_ATTRIBUTE_SIZE = 16
_INT64_MAX = (1 << 63) - 1

_I16 = struct.Struct("<h")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_PTR = struct.Struct("<II")                 # uint32 offset, uint32 (count | entity << 24)
_REPLY = struct.Struct("<qqq")              # last_seq, requested_seq, block_seq (+ server ptr)
_OLD_HEAD = struct.Struct("<hq")            # version, seq
_NEW_HEAD = struct.Struct("<h")             # version
_BLOCK_INDEX = struct.Struct("<q")


@dataclass(frozen=True, slots=True)
class Request:
    """A history request, for either protocol.

    ``kind`` is one of ``seq``, ``block``, ``initial``, ``last``; ``seq`` is the start seq of a seq
    request, ``block_type``/``block_index`` name a block; ``old`` selects RequestOld (id 11),
    which can express only ``seq`` and ``block``; ``attributes`` are ``(name, value)`` pairs.
    """

    kind: str = REQUEST_SEQ
    seq: int = 0
    block_type: str = ""
    block_index: int = 0
    client: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    old: bool = False

    @property
    def msgid(self) -> int:
        return REQUEST_OLD if self.old else REQUEST


@dataclass(frozen=True, slots=True)
class Reply:
    """Server's success answer: last stored seq, start seq of the history, block end (-1: none)."""

    last_seq: int
    requested_seq: int
    block_seq: int = -1
    server: str = ""


@dataclass(frozen=True, slots=True)
class Error:
    """Server's failure answer (connection is closed after it)."""

    error: str
    server: str = ""


@dataclass(frozen=True, slots=True)
class ClientDone:
    """Client tells the server it caught up; ``seq`` = last history seq consumed."""

    seq: int


# ---------------------------------------------------------------------------------------------
# low-level helpers

class _Tail:
    """A message buffer: fixed part plus a tail that grows as variable fields are appended."""

    __slots__ = ("buf",)

    def __init__(self, fixed: int):
        self.buf = bytearray(fixed)

    def ptr(self, pos: int, data: bytes, count: int, entity: int) -> int:
        """Append ``data`` and point the 8-byte pointer at ``pos`` to it; returns the data offset."""
        start = len(self.buf)
        self.buf += data
        _PTR.pack_into(self.buf, pos, start - pos, count | (entity << 24))
        return start

    def string(self, pos: int, value: str) -> None:
        if value:
            raw = value.encode() + b"\0"
            self.ptr(pos, raw, len(raw), 1)

    def attributes(self, pos: int, attrs: tuple[tuple[str, str], ...]) -> None:
        if not attrs:
            return
        base = self.ptr(pos, bytes(_ATTRIBUTE_SIZE * len(attrs)), len(attrs), _ATTRIBUTE_SIZE)
        for i, (name, value) in enumerate(attrs):
            self.string(base + i * _ATTRIBUTE_SIZE, name)
            self.string(base + i * _ATTRIBUTE_SIZE + 8, value)


def _fail(message: str, field: str, offset: int, reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"{message}.{field}: {reason} (at byte offset {offset})")


def _read_ptr(body: bytes, pos: int, message: str, field: str) -> tuple[int, int, int]:
    """Resolve the offset pointer at ``pos``: (data start, count, entity); count 0 = empty."""
    offset, word = _PTR.unpack_from(body, pos)
    count, entity = word & 0xFFFFFF, word >> 24
    if count == 0:
        return 0, 0, entity
    start = pos + offset
    if entity == 0xFF:  # element size >= 255: stored as uint32 in front of the data
        if start + 4 > len(body):
            raise _fail(message, field, pos, f"pointer offset {offset} is past the end of the "
                        f"{len(body)}-byte body")
        entity = struct.unpack_from("<I", body, start)[0]
        start += 4
    end = start + count * entity
    if end > len(body):
        raise _fail(message, field, pos, f"pointer (offset {offset}, count {count}, entity "
                    f"{entity}) runs past the end of the {len(body)}-byte body")
    return start, count, entity


def _read_string(body: bytes, pos: int, message: str, field: str) -> str:
    start, count, entity = _read_ptr(body, pos, message, field)
    if count == 0:
        return ""
    if entity != 1:
        raise _fail(message, field, pos, f"string pointer has element size {entity}, expected 1")
    raw = bytes(body[start:start + count])
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


def _read_attributes(body: bytes, pos: int, message: str) -> tuple[tuple[str, str], ...]:
    start, count, entity = _read_ptr(body, pos, message, "attributes")
    if count == 0:
        return ()
    if entity < _ATTRIBUTE_SIZE:
        raise _fail(message, "attributes", pos,
                    f"list element size {entity} is smaller than Attribute ({_ATTRIBUTE_SIZE})")
    out = []
    for i in range(count):
        el = start + i * entity
        out.append((_read_string(body, el, message, f"attributes[{i}].attribute"),
                    _read_string(body, el + 8, message, f"attributes[{i}].value")))
    return tuple(out)


def _check_size(body: bytes, minimum: int, message: str) -> None:
    if len(body) < minimum:
        raise RemoteProtocolError(f"{message}: body is {len(body)} bytes, shorter than its fixed "
                                  f"size {minimum}")


# ---------------------------------------------------------------------------------------------
# Request / RequestOld

def encode_request(req: Request) -> tuple[int, bytes]:
    """``(msgid, body)`` of a request, laid out exactly as the reference C++ client does."""
    if req.kind not in _TAG:
        raise LocalProtocolError(f"Request: unknown kind {req.kind!r} (expected one of "
                                 f"{REQUEST_KINDS})")
    if req.kind == REQUEST_BLOCK and not req.block_type:
        raise LocalProtocolError("Request: a block request needs a non-empty block type")
    if not 0 <= req.seq <= _INT64_MAX or not 0 <= req.block_index <= _INT64_MAX:
        raise LocalProtocolError(f"Request: seq {req.seq} / block index {req.block_index} out of "
                                 f"range 0..{_INT64_MAX}")
    t = _Tail(_REQUEST_SIZE)  # the C++ client uses a 35-byte buffer for both layouts
    if req.old:
        if req.kind == REQUEST_SEQ:
            seq = req.seq
        elif req.kind == REQUEST_BLOCK:
            seq = req.block_index
        else:
            raise LocalProtocolError(f"RequestOld cannot express a {req.kind!r} request "
                                     "(use the new protocol)")
        _OLD_HEAD.pack_into(t.buf, 0, VERSION, seq)
        t.string(10, req.client)
        if req.kind == REQUEST_BLOCK:
            t.string(18, req.block_type)
        t.attributes(26, req.attributes)
        return REQUEST_OLD, bytes(t.buf)
    _NEW_HEAD.pack_into(t.buf, 0, VERSION)
    t.string(2, req.client)
    t.attributes(10, req.attributes)
    t.buf[18] = _TAG[req.kind]
    if req.kind == REQUEST_SEQ:
        _U64.pack_into(t.buf, 19, req.seq)
    elif req.kind == REQUEST_BLOCK:
        _BLOCK_INDEX.pack_into(t.buf, 27, req.block_index)
        t.string(19, req.block_type)
    return REQUEST, bytes(t.buf)


def decode_request(msgid: int, body: bytes) -> Request:
    """Parse a Request (12) or RequestOld (11) body; RemoteProtocolError names what is wrong."""
    if msgid == REQUEST:
        name = "Request"
        _check_size(body, _REQUEST_SIZE, name)
        version, = _NEW_HEAD.unpack_from(body, 0)
        if version != VERSION:
            raise _fail(name, "version", 0, f"unsupported version {version}, expected {VERSION}")
        client = _read_string(body, 2, name, "client")
        attrs = _read_attributes(body, 10, name)
        tag = body[18]
        if tag >= len(REQUEST_KINDS):
            raise _fail(name, "data", 18, f"unknown union tag {tag} (0 seq, 1 block, 2 initial, "
                        "3 last)")
        kind = REQUEST_KINDS[tag]
        if kind == REQUEST_SEQ:
            return Request(kind, _U64.unpack_from(body, 19)[0], client=client, attributes=attrs)
        if kind == REQUEST_BLOCK:
            btype = _read_string(body, 19, name, "data.block.block")
            index, = _BLOCK_INDEX.unpack_from(body, 27)
            return Request(kind, block_type=btype, block_index=index, client=client,
                           attributes=attrs)
        return Request(kind, client=client, attributes=attrs)
    if msgid == REQUEST_OLD:
        name = "RequestOld"
        _check_size(body, _REQUEST_OLD_SIZE, name)
        version, seq = _OLD_HEAD.unpack_from(body, 0)
        if version != VERSION:
            raise _fail(name, "version", 0, f"unsupported version {version}, expected {VERSION}")
        client = _read_string(body, 10, name, "client")
        btype = _read_string(body, 18, name, "block")
        attrs = _read_attributes(body, 26, name)
        if btype:
            return Request(REQUEST_BLOCK, block_type=btype, block_index=seq, client=client,
                           attributes=attrs, old=True)
        return Request(REQUEST_SEQ, seq, client=client, attributes=attrs, old=True)
    raise RemoteProtocolError(f"message id {msgid} is not a request (expected {REQUEST} Request "
                              f"or {REQUEST_OLD} RequestOld)")


# ---------------------------------------------------------------------------------------------
# Reply, Error, ClientDone

def encode_reply(reply: Reply) -> bytes:
    """Reply body: 32 bytes, plus the server name tail when one is set."""
    t = _Tail(_REPLY_SIZE)
    _REPLY.pack_into(t.buf, 0, reply.last_seq, reply.requested_seq, reply.block_seq)
    t.string(24, reply.server)
    return bytes(t.buf)


def decode_reply(body: bytes) -> Reply:
    """Parse a Reply body (at least 32 bytes)."""
    _check_size(body, _REPLY_SIZE, "Reply")
    last, requested, block = _REPLY.unpack_from(body, 0)
    return Reply(last, requested, block, _read_string(body, 24, "Reply", "server"))


def encode_error(error: Error | str) -> bytes:
    """Error body: 16 bytes plus the NUL-terminated text (as the reference server sends it)."""
    if isinstance(error, str):
        error = Error(error)
    t = _Tail(_ERROR_SIZE)
    raw = error.error.encode() + b"\0"  # the reference always assigns the text
    t.ptr(0, raw, len(raw), 1)
    t.string(8, error.server)
    return bytes(t.buf)


def decode_error(body: bytes) -> Error:
    """Parse an Error body (at least 16 bytes)."""
    _check_size(body, _ERROR_SIZE, "Error")
    return Error(_read_string(body, 0, "Error", "error"), _read_string(body, 8, "Error", "server"))


def encode_client_done(seq: int) -> bytes:
    """ClientDone body: int64 seq."""
    return _I64.pack(seq)


def decode_client_done(body: bytes) -> ClientDone:
    """Parse a ClientDone body (at least 8 bytes)."""
    _check_size(body, _DONE_SIZE, "ClientDone")
    return ClientDone(_I64.unpack_from(body, 0)[0])


# ---------------------------------------------------------------------------------------------
# local controls

def encode_begin_of_block(last_seq: int) -> bytes:
    """BeginOfBlock control body: int64 last_seq (last seq inside the block)."""
    return _I64.pack(last_seq)


def decode_begin_of_block(body: bytes) -> int:
    """``last_seq`` of a BeginOfBlock control body (a local control: a short body is our bug)."""
    if len(body) < 8:
        raise LocalProtocolError(f"BeginOfBlock: body is {len(body)} bytes, shorter than its "
                                 "fixed size 8")
    return _I64.unpack_from(body, 0)[0]
