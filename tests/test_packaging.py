"""What `pip install .` puts in site-packages, and `python -m streamproto` from any directory."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_holds_only_the_project_namespaces(tmp_path):
    src = tmp_path / "src"          # a copy: building in place would leave build/ in the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
        ".pytest_cache", "tests"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "-q", "-w", str(tmp_path), str(src)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("streamproto-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tllschema", "streamproto"}
    for need in ("tllschema/py.typed", "streamproto/py.typed", "streamproto/cli/cli.py",
                 "streamproto/schemas/transaction.yaml"):
        assert need in names


def test_module_entry_point_ignores_a_local_tools_package(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("raise SystemExit('wrong tools package')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "streamproto", "--help"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout and "read" in r.stdout
