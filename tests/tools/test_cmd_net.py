"""`streamproto serve` / `subscribe` for tcp and pub+tcp URLs (subprocesses, bounded waits)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CMD = [sys.executable, "-m", "streamproto"]
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def start_serve(args, tmp_path):
    proc = subprocess.Popen(CMD + ["serve", *args], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    sock = tmp_path / "p.sock"
    end = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"serve did not start: {proc.communicate()}")
        time.sleep(0.02)
    return proc


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def subscribe(*args, timeout=20):
    return subprocess.run(CMD + ["subscribe", *args], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def test_pub_serve_and_subscribe_jsonl(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"sleep": 1.5}\n{"msgid": 10, "seq": 40, "hex": "646464"}\n'
                     '{"name": "Transaction", "data": {"id": 5, "price": "97.21"}}\n')
    scheme = "yaml://" + str(REPO / "schemas" / "transaction.yaml")
    url = f"pub+tcp://{tmp_path}/p.sock;scheme={scheme}"
    server = start_serve([url, "--post-jsonl", str(posts), "--format", "jsonl"], tmp_path)
    try:
        r = subscribe(url, "--format", "jsonl", "--count", "2", "--timeout", "10")
    finally:
        out, err = stop(server)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[:2] == [{"event": "state", "state": "Opening"}, {"event": "state", "state": "Active"}]
    assert lines[2] == {"event": "data", "msgid": 10, "seq": 40, "hex": "646464", "online": False}
    assert lines[3]["seq"] == 41 and lines[3]["data"]["price"] == "97.21" and lines[3]["data"]["id"] == 5
    assert len(lines) == 4
    names = [json.loads(x).get("name") for x in out.splitlines()]
    assert "Connect" in names and "Disconnect" in names
    assert server.returncode == 0


def test_subscribe_error_exit_code_and_log_format(tmp_path):
    r = subscribe(f"pub+tcp://{tmp_path}/nobody.sock", "--timeout", "2")
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1].startswith("State: Error (cannot connect to")


def test_config_object_and_server_eof_is_error(tmp_path):
    cfg = tmp_path / "proc.yaml"
    cfg.write_text(f"""
processor.objects:
  server:
    init: {{tll.proto: pub+tcp, tll.host: '{tmp_path}/p.sock', mode: server}}
  client:
    init: 'pub+tcp://{tmp_path}/p.sock'
    open: {{mode: online}}
""")
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"sleep": 1.5}\n{"msgid": 1, "seq": 7, "hex": "00"}\n')
    server = start_serve(["--config", str(cfg), "--object", "server", "--post-jsonl",
                          str(posts)], tmp_path)
    try:
        r = subscribe("--config", str(cfg), "--object", "client", "--count", "1",
                      "--timeout", "10")
        assert r.returncode == 0, r.stderr
        assert "Recv message: type: Data, msgid: 1, seq: 7, size: 1" in r.stdout
    finally:
        stop(server)
    r = subscribe("--config", str(cfg), "--object", "nope")
    assert r.returncode != 0 and "no object 'nope'" in r.stderr


def test_tcp_serve_posts_to_every_client(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"sleep": 1.5}\n{"msgid": 3, "seq": 4, "hex": "6869"}\n')
    url = f"tcp://{tmp_path}/p.sock;frame=short"
    server = start_serve([url, "--post-jsonl", str(posts)], tmp_path)
    try:
        r = subscribe(url, "--format", "jsonl", "--count", "1", "--timeout", "10")
    finally:
        stop(server)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == \
        {"event": "data", "msgid": 3, "seq": 4, "hex": "6869", "online": False}
