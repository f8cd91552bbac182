"""The example processor configs load into the channels they describe."""
from __future__ import annotations

from streamproto.config import child_url, load_processor_object
from tests.conftest import REPO


def test_generator_config_is_a_stream_server():
    url, params = load_processor_object(str(REPO / "examples" / "generator-processor.yaml"), "generator")
    assert url.proto == "stream+pub+tcp" and url.host == "./generator.sock"
    assert url.params["mode"] == "server" and url.params["autoseq"] in ("yes", "true")
    assert child_url(url, "request").proto == "tcp"
    assert child_url(url, "storage").proto == "rotate+file"
    assert params in ({}, None)


def test_commission_config_opens_from_seq_zero():
    url, params = load_processor_object(str(REPO / "examples" / "commission-processor.yaml"), "input")
    assert url.proto == "stream+pub+tcp" and url.params.get("mode", "client") == "client"
    assert url.params["peer"] == "commission"
    assert {k: str(v) for k, v in params.items()} == {"mode": "seq", "seq": "0"}
