"""`streamproto demo`: the seed's scenario (a Transaction in, its Commission out)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import click

import tllschema
from streamproto import schemes
from tools.dumpfmt import format_yaml_body

#: seq 10 of the seed's log
SEED_TRANSACTION = {"time": 1725890781038702405, "id": 11, "price": "97.21", "count": 45}
SEED_SEQ = 10


def commission_value(price: Decimal, count: int) -> Decimal:
    """1 % of price x count, rounded half-up to 2 places."""
    return (price * count / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def commission_for(transaction: tllschema.Record) -> dict:
    """The Commission fields for a decoded Transaction."""
    return {"time": transaction.time, "id": transaction.id,
            "value": commission_value(transaction.price, transaction.count)}


def dump_line(text: str, msg: tllschema.Message, seq: int, body: bytes) -> str:
    """A message as TLL's `dump=yes` logs it: header line, then the decoded fields."""
    head = f"{text} message: type: Data, msgid: {msg.msgid}, name: {msg.name}, seq: {seq}, size: {len(body)}"
    return head + "\n" + format_yaml_body(tllschema.plain(msg.decode(body)), 2)


@click.command("demo")
def demo() -> None:
    """Run the seed scenario: encode a Transaction, compute and post its Commission."""
    transaction = tllschema.load(schemes.url("transaction.yaml")).message("Transaction")
    commission = tllschema.load(schemes.url("commission.yaml")).message("Commission")
    tbody = transaction.encode(SEED_TRANSACTION)
    click.echo(dump_line("Recv", transaction, SEED_SEQ, tbody), nl=False)
    cbody = commission.encode(commission_for(transaction.decode(tbody)))
    click.echo(dump_line("Post", commission, SEED_SEQ, cbody), nl=False)


def register(group: click.Group) -> None:
    """Add `demo` to the `streamproto` group."""
    group.add_command(demo)
