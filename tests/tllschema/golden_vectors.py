"""Loading of ../shared/golden/scheme/vectors.yaml for the vector tests."""
from __future__ import annotations

from functools import lru_cache

import yaml

import tllschema
from tests.conftest import GOLDEN


def load_vectors() -> list[dict]:
    path = GOLDEN / "scheme" / "vectors.yaml"
    if not path.is_file():
        return []
    return yaml.safe_load(path.read_text())


@lru_cache(maxsize=None)
def golden_scheme(name: str) -> tllschema.Scheme:
    return tllschema.load(str(GOLDEN / "scheme" / name))


def case_id(case: dict) -> str:
    return f"{case['message']}-{case['note']}".replace(" ", "_")
