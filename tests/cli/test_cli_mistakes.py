"""Every command fed an everyday (or hostile) mistake answers with one short message.

One table: the command line, the exit code (1: the input is wrong, 2: usage), and a piece of
the one ``Error:`` line that must name the problem. Run in-process through click's runner (the
real entry point and signals are covered by test_net_robustness.py); an exception escaping the
CLI's error mapping shows up as ``result.exception`` and fails the row.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streamproto.cli.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "storage" / "file"
SCHEME = Path(__file__).resolve().parents[2] / "streamproto" / "schemas" / "transaction.yaml"
STREAM = "stream+pub+tcp://{d}/o.sock;request=tcp://{d}/r.sock"
STREAM_SERVER = STREAM + ";storage=file://{d}/s.dat"

CASES = [
    # --config / --object
    (["serve", "--config", "{d}/ok.yaml", "--object", "nope"], 1, "no object 'nope' in processor.objects (have: a, b)"),
    (["subscribe", "--config", "{d}/ok.yaml", "--object", "nope"], 1, "no object 'nope'"),
    (["serve", "--config", "{d}/ok.yaml", "--object", "b"], 1, "processor.objects.b: no 'init'"),
    (["serve", "--config", "{d}/bad.yaml", "--object", "a"], 1, "bad.yaml:2: invalid YAML: did not find expected node content"),
    (["serve", "--config", "{d}/tag.yaml", "--object", "a"], 1, "tag.yaml:1: 'a': unknown tag !foo"),
    (["serve", "--config", "{d}/empty.yaml", "--object", "a"], 1, "no 'processor' section"),
    (["serve", "--config", "{d}/binary.yaml", "--object", "a"], 1, "not UTF-8"),
    (["serve", "--config", "{d}/missing.yaml", "--object", "a"], 2, "does not exist"),
    (["serve", "--config", "{d}", "--object", "a"], 2, "is a directory"),
    (["serve", "--config", "{d}/ok.yaml"], 2, "--config needs --object"),
    (["subscribe"], 2, "give a channel URL"),
    # --post-jsonl
    (["serve", "pub+tcp://{d}/p.sock", "--post-jsonl", "{d}/missing.jsonl"], 2, "does not exist"),
    (["serve", "pub+tcp://{d}/p.sock", "--post-jsonl", "{d}"], 2, "is a directory"),
    # URLs and init parameters: refused before anything is opened
    (["serve", "garbage"], 1, "invalid channel URL 'garbage'"),
    (["serve", "foo://x"], 1, "unknown protocol 'foo'"),
    (["serve", "tcp://127.0.0.1:99999"], 1, "port '99999' is not a number 0..65535"),
    (["serve", "tcp://{d}/" + "x" * 120 + ".sock"], 1, "AF_UNIX path too long"),
    (["serve", "pub+tcp://{d}/p.sock;max-size=abc"], 1, "parameter 'max-size': invalid size 'abc'"),
    (["serve", "pub+tcp://{d}/p.sock;size=huge"], 1, "parameter 'size': invalid size 'huge'"),
    (["serve", "pub+tcp://{d}/p.sock;size=100tb"], 1, "parameter 'size': size '100tb' is out of range"),
    (["serve", "pub+tcp://{d}/p.sock;hello=perhaps"], 1, "parameter 'hello': invalid boolean 'perhaps'"),
    (["serve", "tcp://{d}/p.sock;nodelay=abc"], 1, "parameter 'nodelay': invalid boolean 'abc'"),
    (["serve", "tcp://{d}/p.sock;listen-backlog=-1"], 1, "parameter 'listen-backlog': -1 is out of range"),
    (["serve", "tcp://{d}/p.sock;sndbuf=99999999999"], 1, "parameter 'sndbuf'"),
    (["serve", "tcp://{d}/p.sock;af=ipx"], 1, "parameter 'af': invalid value 'ipx'"),
    (["serve", "tcp://{d}/p.sock;frame=jumbo"], 1, "parameter 'frame': unknown frame 'jumbo'"),
    (["subscribe", "tcp://{d}/p.sock;timeout=soon"], 1, "parameter 'timeout': invalid duration 'soon'"),
    (["serve", STREAM_SERVER + ";autoseq=maybe"], 1, "parameter 'autoseq': invalid boolean 'maybe'"),
    (["serve", STREAM_SERVER + ";request.rcvbuf=9999999999"], 1, "parameter 'rcvbuf'"),
    (["serve", STREAM_SERVER + ";pub.size=lots"], 1, "parameter 'pub.size': invalid size 'lots'"),
    (["serve", STREAM], 1, "parameter 'storage' is mandatory (file:// or rotate+file:// storage), e.g. storage=file://"),
    (["serve", STREAM_SERVER + ";scheme=yaml://{d}/missing.yaml"], 1, "parameter 'scheme'"),
    (["subscribe", STREAM + ";protocol=v3"], 1, "parameter 'protocol': invalid value 'v3'"),
    (["subscribe", STREAM + ";size=tiny"], 1, "parameter 'size': invalid size 'tiny'"),
    # open parameters
    (["subscribe", STREAM, "--open", "mode=seq;seq=99999999999999999999"], 1, "parameter 'seq': 99999999999999999999 is out of range"),
    (["subscribe", STREAM, "--open", "mode=seq-data;seq=9223372036854775807"], 1, "open parameter 'seq': 9223372036854775807 is out of the int64 range"),
    (["subscribe", STREAM, "--open", "mode=seq;seq=-1"], 1, "parameter 'seq': -1 is out of range"),
    (["subscribe", STREAM, "--open", "mode=seq;seq=ten"], 1, "parameter 'seq': invalid integer 'ten'"),
    (["subscribe", STREAM, "--open", "mode=warp"], 1, "open parameter 'mode': invalid value 'warp'"),
    (["subscribe", STREAM, "--open", "garbage"], 1, "--open: 'garbage' has no '='"),
    (["subscribe", STREAM], 1, "open parameter 'mode' is mandatory"),
    (["serve", "pub+tcp://{d}/p.sock", "--open", "last-seq=1e3"], 1, "parameter 'last-seq': invalid integer '1e3'"),
    # subscribe options and outcomes
    (["subscribe", "tcp://{d}/p.sock", "--count", "0"], 2, "--count"),
    (["subscribe", "tcp://{d}/p.sock", "--count", "many"], 2, "--count"),
    (["subscribe", "tcp://{d}/p.sock", "--timeout", "nan"], 2, "--timeout"),
    (["subscribe", "tcp://{d}/p.sock", "--timeout", "-1"], 2, "--timeout"),
    (["subscribe", "tcp://{d}/nobody.sock"], 1, "cannot connect to"),
    (["subscribe", "file://{g}/transaction.dat", "--count", "1000", "--timeout", "30"], 1, "channel closed: got 600 of 1000 data messages"),
    (["subscribe", "file://{g}/transaction.dat;autoclose=no", "--count", "1000", "--timeout", "0.5"], 1, "timed out after 0.5 s: got 600 of 1000 data messages"),
    # read
    (["read", "{g}/transaction.dat", "--seq", "5:2"], 2, "'5:2': the range is empty (5 > 2)"),
    (["read", "{g}/transaction.dat", "--seq", "a:b"], 2, "expected A:B with integer seqs"),
    (["read", "{d}"], 1, "a directory, not a storage file"),
    (["read", "{d}/missing.dat"], 1, "no such file"),
    (["read", "{d}/empty.yaml"], 1, "not a TLL data file"),
    (["read", "/dev/null"], 1, "not a regular file"),
    (["read", "{g}/transaction.dat", "--scheme", "yaml://{d}/bad.yaml"], 1, "invalid YAML"),
    # schema
    (["schema", "check", "{d}/bad.yaml"], 2, "invalid YAML"),
    (["schema", "check", "{d}/missing.yaml"], 2, "No such file or directory"),
    (["schema", "encode", "{s}", "Transaction", "{"], 1, "VALUE is not valid YAML or JSON: line 2, column 1"),
    (["schema", "encode", "{s}", "Transaction", "[1, 2]"], 1, "VALUE must be a mapping"),
    (["schema", "encode", "{s}", "Transaction", "{id: abc}"], 1, "Transaction.id"),
    (["schema", "decode", "{s}", "Transaction", "zz"], 1, "HEX is not valid hex"),
    (["schema", "decode", "{s}", "Nope", "00"], 1, "no message 'Nope'"),
    (["schema", "compile", "{s}", "-o", "{d}/missing/x.py"], 1, "cannot write"),
]


@pytest.fixture(scope="module")
def mistakes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mistakes")
    (d / "ok.yaml").write_text(f"processor.objects:\n  a:\n    init: pub+tcp://{d}/a.sock\n"
                               "  b:\n    open: {mode: online}\n")
    (d / "bad.yaml").write_text("a: [\n")
    (d / "tag.yaml").write_text("a: !foo 1\n")
    (d / "empty.yaml").write_text("")
    (d / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    return d


@pytest.mark.parametrize("args,code,message", CASES,
                         ids=[" ".join(c[0])[:70] for c in CASES])
def test_mistake_answers_in_one_line(mistakes_dir: Path, args: list[str], code: int,
                                     message: str) -> None:
    def fill(text: str) -> str:
        return (text.replace("{d}", str(mistakes_dir)).replace("{g}", str(GOLDEN))
                .replace("{s}", str(SCHEME)))
    argv = [fill(a) for a in args]
    r = CliRunner().invoke(main, argv)
    assert r.exception is None or isinstance(r.exception, SystemExit), \
        f"escaped the error mapping: {r.exception!r}"
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    assert fill(message) in errors[0]
    if code == 1:                       # not a usage error: nothing but that line on stderr
        assert r.stderr.strip() == errors[0]
