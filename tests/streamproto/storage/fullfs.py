"""Run a test scenario on a small tmpfs of its own, in a child process.

    result = on_tmpfs("tests.streamproto.storage.test_full_disk:scenario_writer", "1m", args)

The child mounts a tmpfs of the given size on a fresh directory, calls ``scenario(dir, *args)``
and prints its JSON-able result; the caller asserts on it. Where the mount happens:

* in a private user + mount namespace (``unshare -rm``): works unprivileged where user
  namespaces are allowed (CI), and leaves nothing mounted behind;
* as root without user namespaces: a private mount namespace (``unshare -m``), else the host's
  (unmounted again at the end);
* otherwise the test is skipped with the reason.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


@functools.lru_cache(maxsize=None)
def _launcher() -> tuple[list[str] | None, str]:
    """(command prefix for the child, or None; why not)."""
    if shutil.which("mount") is None:
        return None, "no mount command"
    unshare = shutil.which("unshare")
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d && rmdir $d"
    tried = []
    if unshare:
        for prefix in ([unshare, "-rm"], [unshare, "-m"]) if os.geteuid() == 0 else ([unshare, "-rm"],):
            r = subprocess.run(prefix + ["sh", "-c", probe], capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return prefix, ""
            tried.append(f"{' '.join(prefix[1:])}: {r.stderr.strip() or r.returncode}")
    if os.geteuid() == 0:
        return [], ""
    return None, ("needs a tmpfs: not root, and user namespaces are unavailable "
                  f"({'; '.join(tried) or 'no unshare command'})")


def on_tmpfs(scenario: str, size: str, args: list[Any], timeout: float = 120) -> Any:
    """Result of ``module:function(dir, *args)`` run on a fresh tmpfs of ``size`` (skips if none)."""
    import pytest
    prefix, why = _launcher()
    if prefix is None:
        pytest.skip(why)
    d = tempfile.mkdtemp(prefix="streamproto-fullfs-")
    cmd = prefix + [sys.executable, "-m", "tests.streamproto.storage.fullfs", d, size, scenario,
                    json.dumps(args)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    finally:                        # a child that died (SIGBUS, timeout) cleans nothing up
        if os.path.ismount(d):
            subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)
    if r.returncode != 0 or not r.stdout.strip():
        pytest.fail(f"scenario {scenario} exited with {r.returncode}:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _main() -> int:
    d, size, scenario, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d], check=True)
    try:
        mod, _, fn = scenario.partition(":")
        result = getattr(importlib.import_module(mod), fn)(d, *args)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        subprocess.run(["umount", "-l", d], check=False)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
