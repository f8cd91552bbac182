"""Helpers for loopback tests: bounded waits, address families available here."""
from __future__ import annotations

import asyncio
import functools
import socket
from typing import Any, Callable

import pytest


def run(coro_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test in a fresh event loop, bounded to 30 s."""
    @functools.wraps(coro_fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        async def bounded() -> Any:
            return await asyncio.wait_for(coro_fn(*args, **kw), 30)
        return asyncio.run(bounded())
    return wrapper


async def until(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``cond`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.002)


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def family_host(family: str, tmp_path) -> str:
    """A server address of the given family: unix (a file in tmp_path), v4 or v6 with port 0."""
    if family == "unix":
        return f"{tmp_path}/s.sock"
    if family == "v4":
        return "127.0.0.1:0"
    if not has_ipv6():
        pytest.skip("IPv6 loopback is not available on this machine")
    return "::1:0"


FAMILIES = ["unix", "v4", "v6"]
