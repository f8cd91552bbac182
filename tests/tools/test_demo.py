"""`streamproto demo` and the README's promises."""
from __future__ import annotations

from decimal import Decimal


from tests.conftest import REPO
from tools.demo import commission_value


def test_commission_rounds_half_up():
    assert commission_value(Decimal("97.21"), 45) == Decimal("43.74")
    assert commission_value(Decimal("0.50"), 1) == Decimal("0.01")  # 0.005 -> 0.01, not banker's 0.00
    assert str(commission_value(Decimal("10.00"), 10)) == "1.00"


def test_readme_commands_are_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_cmd = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest -q"
    assert test_cmd in readme and test_cmd in ci
    assert ".venv/bin/streamproto demo" in readme
