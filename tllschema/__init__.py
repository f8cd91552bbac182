"""TLL YAML schemes compiled into byte-exact binary codecs.

    scheme = tllschema.load("yaml://transaction.yaml")
    msg = scheme.message("Transaction")
    body = msg.encode({"id": 11, "price": "97.21", "count": 45})
    rec = msg.decode(body)            # attribute and dict access: rec.price, rec["count"]
    tllschema.plain(rec, raw=True)    # plain values in the golden `fields` conventions
"""
from tllschema.errors import DecodeError, EncodeError, ParseError, SchemeError
from tllschema.model import Field, Message
from tllschema.plain import plain
from tllschema.record import Record
from tllschema.scheme import Scheme, load
from tllschema.values import Bits, Duration, TimePoint, UnionValue

__all__ = [
    "load", "Scheme", "Message", "Field", "Record", "plain",
    "SchemeError", "ParseError", "EncodeError", "DecodeError",
    "TimePoint", "Duration", "Bits", "UnionValue",
]
