"""Every fenced example in README.md runs as written, so the documentation cannot rot.

Blocks run in order, in one temporary directory (a later block may use what an earlier one
wrote), each with a deadline. ``sh`` blocks run under ``bash -euo pipefail`` with this
interpreter's ``bin`` first on PATH (so ``streamproto`` and ``python`` are the ones under test);
``python`` blocks run as scripts. An HTML comment on the line before a block changes that:

- ``<!-- no-run -->``: set-up or long-running commands; skipped.
- ``<!-- background: wait-for=PATH -->``: started in the background; the next block starts once
  PATH exists, and after it ends the background command gets SIGINT and must exit 0.

Blocks in other languages (``text``, ``yaml``, ...) are shown, not run.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
BLOCK_DEADLINE = 120.0
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*(no-run|background)(?::\s*wait-for=(\S+))?\s*-->\s*$")


@dataclass
class Block:
    line: int            # 1-based line of the opening fence
    lang: str
    code: str
    mark: str | None     # None, "no-run" or "background"
    wait_for: str | None


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text with the marker comment that precedes each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mm = _MARK.match(prev.strip())
        blocks.append(Block(start + 1, lang, "\n".join(lines[start + 1:j]) + "\n",
                            mm.group(1) if mm else None, mm.group(2) if mm else None))
        i = j + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.mark != "no-run" and b.lang in ("sh", "bash", "python")]


def test_readme_marks_are_known_and_blocks_have_languages():
    for b in BLOCKS:
        assert b.lang, f"README.md:{b.line}: fenced block without a language"
        if b.mark == "background":
            assert b.lang in ("sh", "bash") and b.wait_for, \
                f"README.md:{b.line}: a background block is a sh block with wait-for=PATH"
    assert len(RUNNABLE) >= 5, "the README should keep runnable examples"


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _command(b: Block, workdir: Path) -> list[str]:
    if b.lang == "python":
        script = workdir / f"readme_block_{b.line}.py"
        script.write_text(b.code, encoding="utf-8")
        return [sys.executable, str(script)]
    return ["bash", "-euo", "pipefail", "-c", b.code]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    yield tmp_path_factory.mktemp("readme")
    _stop_background()


_background: list[tuple[Block, subprocess.Popen]] = []


def _stop_background() -> None:
    while _background:
        b, proc = _background.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)      # the shell and what it started
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"README.md:{b.line}: background command did not stop on SIGINT\n{err}")
        assert proc.returncode == 0, f"README.md:{b.line}: background command exit {proc.returncode}\n{err}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"line{b.line}" for b in RUNNABLE])
def test_readme_block_runs(block: Block, workdir: Path):
    env = _env()
    if block.mark == "background":
        proc = subprocess.Popen(_command(block, workdir), cwd=workdir, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        _background.append((block, proc))
        target = workdir / block.wait_for  # type: ignore[operator]
        end = time.monotonic() + 30
        while not target.exists():
            if proc.poll() is not None or time.monotonic() > end:
                _stop_background()
                pytest.fail(f"README.md:{block.line}: {block.wait_for} did not appear")
            time.sleep(0.05)
        return
    try:
        r = subprocess.run(_command(block, workdir), cwd=workdir, env=env, text=True,
                           capture_output=True, timeout=BLOCK_DEADLINE)
    finally:
        _stop_background()
    assert r.returncode == 0, (f"README.md:{block.line}: {block.lang} block failed "
                               f"(exit {r.returncode})\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}")
    assert "Traceback" not in r.stderr, f"README.md:{block.line}: traceback\n{r.stderr}"


def test_block_parser_reads_marks():
    text = ("x\n<!-- no-run -->\n```sh\nrm -rf /\n```\n\n<!-- background: wait-for=a.sock -->\n"
            "```sh\nserve\n```\n```python\nprint(1)\n```\n")
    got = readme_blocks(text)
    assert [(b.lang, b.mark, b.wait_for, b.code) for b in got] == [
        ("sh", "no-run", None, "rm -rf /\n"), ("sh", "background", "a.sock", "serve\n"),
        ("python", None, None, "print(1)\n")]
