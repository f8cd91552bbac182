"""The seed's processor configs (examples/seed) read through the loader serve/subscribe use."""
from __future__ import annotations

from streamproto.config import child_url, load_processor_object
from tests.conftest import REPO

SEED = REPO / "examples" / "seed"


def test_generator_output_channel_is_a_stream_server():
    url, params = load_processor_object(str(SEED / "generator-processor.yaml"), "output-channel")
    assert url.proto == "stream+pub+tcp" and url.host == "./generator.sock"
    assert url.params["mode"] == "server" and url.params["autoseq"] == "yes"
    assert child_url(url, "request").proto == "tcp"
    storage = child_url(url, "storage")
    assert (storage.proto, storage.host) == ("rotate+file", "storage/output")
    assert params == {}


def test_commission_input_is_a_stream_client_opened_online():
    url, params = load_processor_object(str(SEED / "commission-processor.yaml"), "input-channel")
    assert url.proto == "stream+pub+tcp" and url.params["mode"] == "client"
    assert url.params["peer"] == "commission"
    assert params == {"mode": "online"}
    out, oparams = load_processor_object(str(SEED / "commission-processor.yaml"), "output-channel")
    assert (out.proto, out.host, out.params["dir"], oparams) == \
        ("file", "commission.dat", "w", {"overwrite": "yes"})


def test_the_logic_modules_are_the_installed_package_data():
    from streamproto.cli.demo import SEED_FILES, seed_dir
    assert sorted(SEED_FILES) == sorted(p.name for p in SEED.iterdir() if p.is_file())
    assert seed_dir() == SEED
