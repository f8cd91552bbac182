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
    scheme = "yaml://" + str(REPO / "streamproto" / "schemas" / "transaction.yaml")
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
        assert "Recv message: type: Data, msgid: 1, name: (no scheme), seq: 7, size: 1" in r.stdout
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


# --- stream+ and storage channels ---------------------------------------------------------

def _seed_stream_storage(path):
    from streamproto.storage import FileWriter
    with FileWriter(str(path)) as w:
        for seq, body in ((10, b"aaa"), (20, b"bbb"), (30, b"ccc")):
            w.post(10, seq, body)


def _start_stream_serve(args, tmp_path):
    proc = subprocess.Popen(CMD + ["serve", *args], cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 10
    while not ((tmp_path / "o.sock").exists() and (tmp_path / "r.sock").exists()):
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"serve did not start: {proc.communicate()}")
        time.sleep(0.02)
    return proc


def test_stream_serve_config_and_subscribe_history_then_online(tmp_path):
    _seed_stream_storage(tmp_path / "s.dat")
    scheme = "yaml://" + str(REPO / "streamproto" / "schemas" / "transaction.yaml")
    cfg = tmp_path / "proc.yaml"
    cfg.write_text(f"""
processor.objects:
  generator:
    init:
      tll.proto: stream+pub+tcp
      tll.host: {tmp_path}/o.sock
      mode: server
      dump: yes
      scheme: {scheme}
      request: {{tll.proto: tcp, tll.host: {tmp_path}/r.sock}}
      storage: file://{tmp_path}/s.dat
  commission:
    init:
      tll.proto: stream+pub+tcp
      tll.host: {tmp_path}/o.sock
      request.url: tcp://{tmp_path}/r.sock
      peer: c0
      stream.protocol: old
      scheme: {scheme}
    open: {{mode: seq, seq: 20}}
""")
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"sleep": 1.5}\n{"msgid": 10, "seq": 40, "hex": "646464"}\n'
                     '{"msgid": 10, "seq": 35, "hex": "00"}\n'
                     '{"name": "Transaction", "data": {"id": 5, "price": "97.21"}}\n')
    server = _start_stream_serve(["--config", str(cfg), "--object", "generator",
                                  "--post-jsonl", str(posts), "--format", "jsonl"], tmp_path)
    try:
        r = subscribe("--config", str(cfg), "--object", "commission", "--format", "jsonl",
                      "--count", "4", "--timeout", "10")
    finally:
        out, err = stop(server)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[:5] == [
        {"event": "state", "state": "Opening"}, {"event": "state", "state": "Active"},
        {"event": "data", "msgid": 10, "seq": 20, "hex": "626262", "online": False},
        {"event": "data", "msgid": 10, "seq": 30, "hex": "636363", "online": False},
        {"event": "control", "name": "Online", "msgid": 10, "seq": 30}]
    assert lines[5] == {"event": "data", "msgid": 10, "seq": 40, "hex": "646464", "online": True}
    assert lines[6]["seq"] == 41 and lines[6]["online"] is True
    assert lines[6]["data"]["price"] == "97.21"
    assert "line 3" in err and "seq 35 is not greater than the last stored seq 40" in err
    assert server.returncode == 0
    # the history is stored: a second subscriber after the server stopped reads the file
    r = subscribe(f"file://{tmp_path}/s.dat", "--open", "seq=30", "--format", "jsonl",
                  "--timeout", "10")
    assert r.returncode == 0, r.stderr
    assert [json.loads(x).get("seq") for x in r.stdout.splitlines()
            if json.loads(x)["event"] == "data"] == [30, 40, 41]


def test_stream_subscribe_error_and_log_format(tmp_path):
    _seed_stream_storage(tmp_path / "s.dat")
    url = (f"stream+pub+tcp://{tmp_path}/o.sock;request=tcp://{tmp_path}/r.sock;"
           f"storage=file://{tmp_path}/s.dat")
    server = _start_stream_serve([url], tmp_path)
    try:
        bad = subscribe(url.split(";storage")[0], "--open", "mode=block;block=0",
                        "--timeout", "10")
        good = subscribe(url.split(";storage")[0], "--open", "mode=last", "--timeout", "1.5")
    finally:
        stop(server)
    assert bad.returncode == 1
    assert "State: Error (Server error: Requested block, but no block storage configured)" \
        in bad.stdout
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[2:5] == [
        "Recv message: type: Data, msgid: 10, name: (no scheme), seq: 30, size: 3",
        '  00000000:  63 63 63                                            ccc',
        "Recv message: type: Control, msgid: 10, name: Online, seq: 30, size: 0"]


def test_subscribe_reads_rotate_storage(tmp_path, golden):
    r = subscribe(f"rotate+file://{golden}/storage/rotate/output", "--format", "jsonl",
                  "--timeout", "20")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    data = [x for x in lines if x["event"] == "data"]
    assert [x["seq"] for x in data] == list(range(0, 500, 2))
    assert data[0]["data"]["id"] is not None
    assert sum(1 for x in lines if x.get("name") == "Rotate") == 2
    assert lines[-1] == {"event": "state", "state": "Closed"}
