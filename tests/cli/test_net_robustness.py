"""`serve` / `subscribe` as real processes under load and abuse (issue 8).

Concurrent history clients, a client whose stdout is not read, bad ``--post-jsonl`` lines,
signals while stdin is open, open parameters the wire cannot carry, a reader that goes away.
Every wait is on a condition with a deadline.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
CMD = [sys.executable, "-m", "streamproto"]
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
BODY = "45efee6c8598f3170b00000000000000f9250000000000002d00"   # a Transaction


def wait_until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def stored_last_seq(path: Path) -> int | None:
    from streamproto.storage import FileReader
    if not path.exists():
        return None
    try:
        with FileReader(str(path)) as r:
            return r.last_seq
    except Exception:
        return None


def stored_seqs(path: Path) -> list[int]:
    from streamproto.storage import FileReader
    with FileReader(str(path)) as r:
        return [m.seq for m in r]


def urls(d: Path) -> tuple[str, str]:
    client = f"stream+pub+tcp://{d}/o.sock;request=tcp://{d}/r.sock"
    return client, f"{client};storage=file://{d}/s.dat"


def start_server(d: Path, *args: str, stdin: Any = subprocess.PIPE,
                 stdout: Any = subprocess.DEVNULL) -> subprocess.Popen:
    proc = subprocess.Popen(CMD + ["serve", urls(d)[1], *args], cwd=REPO, env=ENV, stdin=stdin,
                            stdout=stdout, stderr=subprocess.PIPE)
    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"serve exited: {proc.communicate()}")
        return (d / "o.sock").exists() and (d / "r.sock").exists()
    wait_until(up, 20, "the server's sockets")
    return proc


def post_lines(seqs: range) -> bytes:
    return "".join(json.dumps({"msgid": 10, "seq": s, "hex": BODY}) + "\n"
                   for s in seqs).encode()


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[bytes, bytes]:
    """Signal the server and wait for it with its stdin still open (communicate() would close
    it, and end of input is not what is tested)."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no exit 10 s after {signal.Signals(sig).name}: {err[-2000:]!r}")
    return proc.communicate()


def events(stdout: bytes) -> tuple[list[int], int]:
    """(data seqs in order, number of Online controls) of a jsonl subscribe output."""
    seqs, online = [], 0
    for line in stdout.splitlines():
        ev = json.loads(line)
        if ev["event"] == "data":
            seqs.append(ev["seq"])
        elif ev.get("name") == "Online":
            online += 1
    return seqs, online


def test_five_clients_replay_while_more_is_posted(tmp_path: Path) -> None:
    """10 000 stored; five subscribers started at the same instant replay them from seq 0
    while 10 000 more are posted: each gets every seq once, in order, with one Online."""
    server = start_server(tmp_path, "--post-jsonl", "-", "--format", "jsonl",
                          stdout=open(tmp_path / "server.jsonl", "wb"))
    try:
        server.stdin.write(post_lines(range(10_000)))
        server.stdin.flush()
        wait_until(lambda: stored_last_seq(tmp_path / "s.dat") == 9_999, 60, "10 000 stored")
        client_url = urls(tmp_path)[0]
        outs = [open(tmp_path / f"c{i}.jsonl", "wb") for i in range(5)]
        clients = [subprocess.Popen(CMD + ["subscribe", client_url, "--open", "mode=seq;seq=0",
                                           "--format", "jsonl", "--count", "20000",
                                           "--timeout", "120"],
                                    cwd=REPO, env=ENV, stdout=out, stderr=subprocess.PIPE)
                   for out in outs]

        def connected() -> bool:
            text = (tmp_path / "server.jsonl").read_text()
            return text.count('"name": "Connect"') >= 5
        wait_until(connected, 60, "five subscribers connected")
        # the second half arrives while the history is being replayed
        for start in range(10_000, 20_000, 500):
            server.stdin.write(post_lines(range(start, start + 500)) + b'{"sleep": 0.02}\n')
        server.stdin.flush()
        for c in clients:
            _, err = c.communicate(timeout=180)
            assert c.returncode == 0, err
        for i in range(5):
            seqs, online = events((tmp_path / f"c{i}.jsonl").read_bytes())
            assert seqs == list(range(20_000)), f"client {i}: {len(seqs)} messages"
            assert online == 1, f"client {i}"
    finally:
        stop(server)


def _pipe_bytes(fd: int) -> int:
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def test_client_whose_stdout_is_not_read_still_gets_everything(tmp_path: Path) -> None:
    """The stall of issue 8: a subscriber whose stdout pipe is full used to block in write()
    inside its event loop, stop reading its sockets and let its --timeout pass; it then ended
    with the ~529 messages that fit the pipe. Now the network is read on while stdout waits."""
    server = start_server(tmp_path, "--post-jsonl", "-")
    try:
        server.stdin.write(post_lines(range(10_000)))
        server.stdin.flush()
        wait_until(lambda: stored_last_seq(tmp_path / "s.dat") == 9_999, 60, "10 000 stored")
        timeout = 6.0
        started = time.monotonic()
        client = subprocess.Popen(CMD + ["subscribe", urls(tmp_path)[0], "--open",
                                         "mode=seq;seq=0", "--format", "jsonl",
                                         "--timeout", str(timeout)],
                                  cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        # not read: the pipe fills up ...
        wait_until(lambda: _pipe_bytes(client.stdout.fileno()) >= 60_000, 60, "a full pipe")
        # ... and stays full until the client's own --timeout has passed (what used to cut it)
        wait_until(lambda: time.monotonic() - started > timeout + 1, timeout + 5,
                   "the client's deadline")
        out, err = client.communicate(timeout=60)
        seqs, online = events(out)
        assert seqs == list(range(10_000)), f"{len(seqs)} messages, stderr {err!r}"
        assert online == 1
        assert client.returncode == 0, err
    finally:
        stop(server)


BAD_LINES: list[tuple[bytes, str]] = [
    (b'{"msgid": 10, "hex": "zz"}', "'hex' is not valid hex"),
    (b'{"msgid": "ten", "hex": "00"}', "'msgid' must be an integer, got \"ten\""),
    (b'{"seq": 1.5, "hex": "00"}', "'seq' must be an integer, got 1.5"),
    (b'{"seq": 1e30, "hex": "00"}', "'seq' must be an integer, got 1e+30"),
    (b'{"seq": 36893488147419103232, "hex": "00"}', "'seq' 36893488147419103232 is out of the int64 seq range"),
    (b'{"msgid": 1099511627776, "hex": "00"}', "'msgid' 1099511627776 is out of the int32 msgid range"),
    (b'{"sleep": "abc"}', "'sleep' must be a number of seconds, got \"abc\""),
    (b'{"sleep": -1}', "'sleep' -1 is not a duration"),
    (b'{"hex": 5}', "'hex' must be a string of hex digits, got an integer"),
    (b'[1, 2]', "expected a JSON object, got an array"),
    (b'"text"', "expected a JSON object, got a string"),
    (b'\xff\xfe{"hex": "00"}', "not UTF-8 text (invalid byte 0xff at offset 0)"),
    (b'not json', "invalid JSON: Expecting value at column 1"),
    (b'{"hex": "00"', "invalid JSON"),
    (b'{"name": 5}', "'name' must be a message name string"),
    (b'{"name": "Transaction"}', "'name' needs a channel with a scheme= parameter"),
    (b'{"seq": 0, "hex": "01"}', "seq 0 is not greater than the last stored seq 0"),
    (b'{"rotate": true}', "rotate needs rotate+file://"),
    (b'{"msgid": 1}', "expected 'hex' (with 'msgid'), 'name' (with 'data'), 'sleep' or 'rotate'"),
]


def test_bad_post_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    lines = [b'{"msgid": 10, "seq": 0, "hex": "00"}']
    lines += [bad for bad, _ in BAD_LINES]
    lines += [b'{"msgid": 10, "hex": "02"}',                            # seq 1
              b'{"msgid": 10, "seq": 9223372036854775807, "hex": "03"}',
              b'{"msgid": 10, "hex": "04"}']                             # no next seq
    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(b"\n".join(lines) + b"\n")
    server = start_server(tmp_path, "--post-jsonl", str(posts), stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: stored_last_seq(tmp_path / "s.dat") == (1 << 63) - 1, 30,
                   "the last good line stored")
        assert server.poll() is None, "the server must keep serving"
    finally:
        _, err_bytes = stop(server)
    err = err_bytes.decode()
    assert server.returncode == 0, err
    assert "Traceback" not in err
    for n, (_, text) in enumerate(BAD_LINES, start=2):
        line = next((x for x in err.splitlines() if f"--post-jsonl {posts} line {n}:" in x), None)
        assert line is not None and text in line, (n, text, err)
    last = len(lines)
    assert f"line {last}: no 'seq' given and the next seq 9223372036854775808 is out of the " \
           "int64 range" in err
    assert stored_seqs(tmp_path / "s.dat") == [0, 1, (1 << 63) - 1]
    assert not (tmp_path / "o.sock").exists() and not (tmp_path / "r.sock").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_on_signal_while_stdin_is_open(tmp_path: Path, sig: int) -> None:
    server = start_server(tmp_path, "--post-jsonl", "-")
    server.stdin.write(post_lines(range(3)))
    server.stdin.flush()                # and left open
    wait_until(lambda: stored_last_seq(tmp_path / "s.dat") == 2, 30, "3 stored")
    _, err = stop(server, sig)
    assert server.returncode == 0, err
    assert b"Traceback" not in err
    assert not (tmp_path / "o.sock").exists() and not (tmp_path / "r.sock").exists()


def test_failed_open_leaves_no_socket_file(tmp_path: Path) -> None:
    """The request address is taken by a live listener: the online socket made before must
    be removed again."""
    taken = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    taken.bind(str(tmp_path / "r.sock"))
    taken.listen(1)
    try:
        r = subprocess.run(CMD + ["serve", urls(tmp_path)[1]], cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=30)
    finally:
        taken.close()
    assert r.returncode == 1 and "cannot bind" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.sock").exists()


def test_open_seq_beyond_int64_fails_at_once(tmp_path: Path) -> None:
    """Used to log "Task exception was never retrieved" and stay in Opening forever."""
    server = start_server(tmp_path, "--post-jsonl", "-")
    try:
        r = subprocess.run(CMD + ["subscribe", urls(tmp_path)[0], "--open",
                                  "mode=seq;seq=99999999999999999999"],
                           cwd=REPO, env=ENV, capture_output=True, text=True, timeout=30)
    finally:
        stop(server)
    assert r.returncode == 1
    assert r.stderr.strip() == ("Error: parameter 'seq': 99999999999999999999 is out of range "
                                "0..9223372036854775807")
    assert "Task exception" not in r.stdout + r.stderr


def test_reader_that_goes_away_ends_subscribe_quietly(golden: Path) -> None:
    """`subscribe ... | head -1`: the closed pipe ends the command, exit code 0, no message."""
    url = f"file://{golden}/storage/file/transaction.dat;autoclose=no"   # never ends by itself
    p = subprocess.Popen(CMD + ["subscribe", url, "--format", "jsonl"], cwd=REPO, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdout.readline().startswith(b'{"event": "state"')
    p.stdout.close()                    # 600 lines of ~170 bytes do not fit in the pipe
    try:
        err = p.stderr.read()           # type: ignore[union-attr]
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("subscribe did not end after its reader went away")
    assert p.returncode == 0, err
    assert err == b""


@pytest.mark.parametrize("command", [["read", "{g}"], ["subscribe", "file://{g}"]])
def test_closed_stdout_is_no_traceback(golden: Path, command: list[str]) -> None:
    """`streamproto ... >&-`: Python starts with sys.stdout = None; the command still runs."""
    g = str(golden / "storage" / "file" / "transaction.dat")
    argv = " ".join(f"'{a.format(g=g)}'" for a in command)
    r = subprocess.run(["sh", "-c", f"exec {sys.executable} -m streamproto {argv} >&-"],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_subscribe_stops_on_signal_with_everything_written(tmp_path: Path, sig: int) -> None:
    server = start_server(tmp_path, "--post-jsonl", "-")
    try:
        server.stdin.write(post_lines(range(1000)))
        server.stdin.flush()
        wait_until(lambda: stored_last_seq(tmp_path / "s.dat") == 999, 30, "1000 stored")
        out = open(tmp_path / "c.jsonl", "wb")
        client = subprocess.Popen(CMD + ["subscribe", urls(tmp_path)[0], "--open",
                                         "mode=seq;seq=0", "--format", "jsonl"],
                                  cwd=REPO, env=ENV, stdout=out, stderr=subprocess.PIPE)
        wait_until(lambda: b'"name": "Online"' in (tmp_path / "c.jsonl").read_bytes(), 30,
                   "Online")
        client.send_signal(sig)
        try:
            _, err = client.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            client.kill()
            pytest.fail(f"subscribe ignored {signal.Signals(sig).name}")
    finally:
        stop(server)
    assert client.returncode == 0 and err == b"", err
    seqs, online = events((tmp_path / "c.jsonl").read_bytes())
    assert seqs == list(range(1000)) and online == 1
