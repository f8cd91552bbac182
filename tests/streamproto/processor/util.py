"""Run a processor config in-process, with a deadline, for tests."""
from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path
from typing import Callable

from streamproto.processor import Processor, load_spec
from streamproto.tllfacade import installed


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_config(directory: Path, config: str, until: Callable[[Processor], bool] | None = None,
               timeout: float = 20.0, defines: tuple[str, ...] = ()) -> tuple[int, Processor]:
    """Run ``config`` (text) from ``directory`` until ``until(processor)`` holds (checked every
    10 ms, at most ``timeout`` s), then stop it; without ``until``, until it stops by itself.
    (exit code, processor); AssertionError when that did not happen within ``timeout``."""
    path = write(directory, "processor.yaml", config)
    old = os.getcwd()
    os.chdir(directory)
    try:
        spec = load_spec(str(path), defines)
        with installed():
            processor = Processor(spec)

            async def main() -> tuple[int, bool]:
                task = asyncio.get_running_loop().create_task(processor.run(signals=False))
                end = asyncio.get_running_loop().time() + timeout
                held = False
                while asyncio.get_running_loop().time() < end:
                    if task.done():
                        held = until is None
                        break
                    if until is not None and processor.graph is not None and until(processor):
                        held = True
                        break
                    await asyncio.sleep(0.01)
                processor.stop()
                return await asyncio.wait_for(task, 15), held

            code, held = asyncio.run(main())
    finally:
        os.chdir(old)
    assert held, (f"condition not reached within {timeout} s" if until is not None
                  else f"the processor did not stop by itself within {timeout} s")
    return code, processor


def state(processor: Processor, name: str) -> str:
    return processor.objects[name].channel.state
