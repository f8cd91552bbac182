"""`schema decode` of values datetime cannot hold prints them (used to be an OverflowError)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from streamproto.cli.cli import main


def test_decode_time_point_outside_datetime(tmp_path: Path) -> None:
    scheme = tmp_path / "tp.yaml"
    scheme.write_text("- name: M\n  id: 1\n  fields:\n"
                      "    - {name: t, type: int64, options.type: time_point, "
                      "options.resolution: s}\n")
    body = ((1 << 63) - 1).to_bytes(8, "little").hex()
    r = CliRunner().invoke(main, ["schema", "decode", str(scheme), "M", body])
    assert r.exception is None and r.exit_code == 0, r.output
    assert r.stdout == "t: +292277026596-12-04T15:30:07Z\n"          # plain, as PyYAML writes it
    r = CliRunner().invoke(main, ["schema", "decode", str(scheme), "M", body, "--format", "json"])
    assert json.loads(r.stdout) == {"t": "+292277026596-12-04T15:30:07Z"}
    r = CliRunner().invoke(main, ["schema", "decode", str(scheme), "M", body, "--raw"])
    assert r.stdout == f"t: {(1 << 63) - 1}\n"
