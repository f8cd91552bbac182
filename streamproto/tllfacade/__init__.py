"""The ``tll`` names Python logic modules import, available only while a processor runs.

Logic modules written for TLL's ``tll-pyprocessor`` say ``from tll.channel.logic import Logic``.
:func:`installed` puts the directory holding this package's ``tll/`` facade at the front of
``sys.path`` for its duration, so those imports resolve to :mod:`streamproto.logic`; nothing named
``tll`` is installed into site-packages, and outside ``streamproto run`` (or the ``with`` block)
``import tll`` is untouched. The facade covers what logic modules use: ``tll.channel`` (State,
Type, Message, Channel), ``tll.channel.base.Base``, ``tll.channel.logic.Logic``,
``tll.config`` (Config, Url), ``tll.logger.Logger``, ``tll.chrono``, ``tll.error.TLLError``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["installed", "FACADE_DIR"]

#: The directory that holds the ``tll`` facade package.
FACADE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ours(name: str) -> bool:
    return name == "tll" or name.startswith("tll.")


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Make ``import tll...`` resolve to the facade inside the block (see module doc)."""
    saved = {k: v for k, v in sys.modules.items() if _ours(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, FACADE_DIR)
    try:
        yield
    finally:
        try:
            sys.path.remove(FACADE_DIR)
        except ValueError:
            pass
        for k in [k for k in sys.modules if _ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
