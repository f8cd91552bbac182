"""Processor configs read into object specs: aliases, defaults, dependencies, strict checks."""
from __future__ import annotations

import logging
import textwrap

import pytest

from streamproto.config import load_processor_object
from streamproto.errors import ConfigError
from streamproto.processor.config import load_text
from streamproto.processor.spec import build, channel_url, read_object_params


def spec_of(text: str, **kw):
    return build(load_text(textwrap.dedent(text)), **kw)


TUTORIAL = """
logger:
  levels:
    tll: DEBUG
processor.alias:
  commission: python://;python=./commission:Commission
processor.objects:
  input-channel:
    init:
      tll.proto: yaml
      tll.host: input-data.yaml
      scheme: yaml://./messages/transaction.yaml
      autoseq: true
      dump: yes
    depends: logic
  output-channel:
    init:
      tll.proto: file
      tll.host: output.dat
      dir: w
      autoseq: true
  logic:
    url: commission://
    channels:
      input: input-channel
      output: output-channel
    depends: output-channel
"""


def test_the_tutorials_config_reads_as_tll_reads_it():
    p = spec_of(TUTORIAL)
    assert list(p.objects) == ["input-channel", "output-channel", "logic"]
    assert p.init_order == ["input-channel", "output-channel", "logic"]   # channels first
    logic = p.objects["logic"]
    assert logic.proto == "python" and logic.depends == ["output-channel"]
    assert logic.channels == {"input": ["input-channel"], "output": ["output-channel"]}
    url = channel_url(logic, p)
    assert (url.proto, url.params["python"], url.params["name"]) == \
        ("python", "./commission:Commission", "logic")
    assert url.params["tll.channel.input"] == "input-channel"
    yaml_url = channel_url(p.objects["input-channel"], p)
    assert (yaml_url.proto, yaml_url.host, yaml_url.params["autoseq"]) == \
        ("yaml", "input-data.yaml", "true")


def test_aliases_expand_prefixes_and_refuse_clashes():
    p = spec_of("""
    processor.alias:
      gen: null://;dump=yes
      wrapped: gen://;x=1
      pre+: 'stream+://'
    processor.objects:
      a: {init: 'wrapped://;y=2'}
      b: {init: 'pre+pub+tcp://./s.sock;mode=server;request=tcp://./r.sock;storage=file://s.dat'}
    """)
    a = channel_url(p.objects["a"], p)
    assert a.proto == "null" and (a.params["x"], a.params["y"], a.params["dump"]) == ("1", "2", "yes")
    assert p.objects["b"].proto == "stream+pub+tcp"
    with pytest.raises(ConfigError, match="processor.objects.a.init: parameter 'dump' is set both "
                                          "in alias 'gen' and in the object"):
        spec_of("""
        processor.alias: {gen: 'null://;dump=yes'}
        processor.objects: {a: {init: 'gen://;dump=no'}}
        """)
    with pytest.raises(ConfigError, match="processor.alias.x: unknown protocol 'nope'"):
        spec_of("processor.alias: {x: 'nope://'}\nprocessor.objects: {a: {init: 'null://'}}")
    with pytest.raises(ConfigError, match="processor.alias.x: an alias cannot set 'tll.host'"):
        spec_of("processor.alias: {x: 'null://host'}\nprocessor.objects: {a: {init: 'null://'}}")


def test_defaults_reach_channel_parameters_and_object_parameters():
    p = spec_of("""
    processor.defaults:
      timer.interval: 10ms
      processor: {reopen-timeout: 2s, shutdown-on: error}
    processor.objects:
      t: {init: 'timer://'}
      u: {init: 'timer://;interval=1s;processor.reopen-timeout=5s'}
    """)
    assert channel_url(p.objects["t"], p).get("interval", prefixes=("timer",)) == "10ms"
    assert channel_url(p.objects["u"], p).get("interval", prefixes=("timer",)) == "1s"
    t = read_object_params(p.objects["t"], p.defaults)
    u = read_object_params(p.objects["u"], p.defaults)
    assert (t.reopen_min, t.shutdown, u.reopen_min, u.reopen_max) == (2.0, "error", 5.0, 30.0)


@pytest.mark.parametrize("text, message", [
    ("processor.objects: {a: {init: 'null://', depends: 'b, c'}, b: {init: 'null://'}}",
     r"processor.objects.a.depends: unknown object 'c'"),
    ("processor.objects: {a: {init: 'null://', depends: 'b,'}, b: {init: 'null://'}}",
     r"processor.objects.a.depends: empty name"),
    ("processor.objects: {a: {init: 'null://', depends: a}}", "cannot depend on itself"),
    ("processor.objects: {a: {init: 'null://', depends: b}, b: {init: 'null://', depends: c},"
     " c: {init: 'null://', depends: a}}", r"depends cycle: a -> b -> c -> a"),
    ("processor.objects: {a: {init: 'python://;python=m:C', channels: {input: b}},"
     " b: {init: 'python://;python=m:C', channels: {input: a}}}", r"channels cycle: a -> b -> a"),
    ("processor.objects: {a: {init: 'null://', channels: {input: zz}}}",
     r"processor.objects.a.channels.input: unknown object 'zz'"),
    ("processor: {objectz: {}}", r"processor.objects is empty or missing"),
    ("processor.objects: {a: {init: 'nosuch://'}}", r"processor.objects.a.init: unknown protocol 'nosuch'"),
    ("processor.objects: {a: {init: {tll.host: x}}}", r"processor.objects.a.init: no protocol"),
    ("processor.objects: {a: {init: 'null://;name=b'}}", r"processor.objects.a.init.name"),
    ("processor.objects: {a: {init: 'null://', open: 'mode=seq'}}", r"open parameters in string form"),
    ("processor.objects: {a: {init: 'null://', open: !link /nowhere}}",
     r"processor.objects.a.open: link /nowhere points to a missing key"),
    ("processor.objects: {a: {init: 'null://', open: !link /sys/zz/info}}",
     r"processor.objects.a.open: link /sys/zz/info: no object 'zz'"),
    ("processor.objects: {a: {init: 'null://', open: !link /sys/a/infx}}", r"not 'infx'"),
    ("sys: {a: 1}\nprocessor.objects: {a: {init: 'null://'}}", r"key 'sys' is reserved"),
    ("processor.objects: {a: {init: 'null://;processor.shutdown-on=always'}}",
     r"processor.objects.a.init.processor.shutdown-on: invalid value 'always'"),
    ("processor.objects: {a: {init: 'null://;reopen-timeout=5'}}",
     r"processor.objects.a.init.reopen-timeout: invalid duration '5'"),
    ("logger: {}", r"no 'processor' section"),
])
def test_mistakes_are_one_message_naming_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        spec_of(text)


def test_unknown_keys_are_logged_and_ignored_as_the_reference_ignores_them(caplog):
    # the tutorial (chapter 10) writes `dump: yes` beside `init`: TLL runs such configs
    with caplog.at_level(logging.WARNING, logger="tll.processor"):
        p = spec_of("processor: {objectz: 1, objects: {a: {init: 'null://', dump: yes}}}")
    assert list(p.objects) == ["a"]
    text = [r.getMessage() for r in caplog.records]
    assert any(t.startswith("processor.objectz: unknown key, ignored") for t in text)
    assert any(t.startswith("processor.objects.a.dump: unknown key, ignored") for t in text)


def test_comma_lists_yaml_lists_and_disabled_objects():
    p = spec_of("""
    processor.objects:
      a: {init: 'null://', depends: [b, c]}
      b: {init: 'null://', depends: ' c '}
      c: {init: 'null://'}
      d: {init: 'null://', disable: yes}
    """)
    assert p.objects["a"].depends == ["b", "c"] and p.objects["b"].depends == ["c"]
    assert "d" not in p.objects


def test_sys_links_are_refused_outside_run(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
    processor.objects:
      logic: {init: 'null://'}
      input: {init: 'null://', open: !link /sys/logic/info/params}
    """))
    with pytest.raises(ConfigError, match=r"processor.objects.input.open: link "
                                          r"/sys/logic/info/params: /sys exists only inside"):
        load_processor_object(str(path), "input")


def test_serve_and_subscribe_read_objects_through_the_processor_loader(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
    processor.alias: {srv: 'stream+pub+tcp://;mode=server'}
    common: &c {mode: seq, seq: '0'}
    processor.objects:
      server:
        init:
          tll.proto: srv
          tll.host: ./s.sock
          request.url: tcp://./r.sock
          storage: rotate+file://storage/out
      client:
        init: {tll.proto: stream+pub+tcp, tll.host: ./s.sock, request: 'tcp://./r.sock'}
        open: *c
    """))
    url, params = load_processor_object(str(path), "server")
    assert (url.proto, url.host, url.params["mode"], url.params["request.url"]) == \
        ("stream+pub+tcp", "./s.sock", "server", "tcp://./r.sock")
    assert params == {}
    assert load_processor_object(str(path), "client")[1] == {"mode": "seq", "seq": "0"}
    with pytest.raises(ConfigError, match="no object 'nope'"):
        load_processor_object(str(path), "nope")
