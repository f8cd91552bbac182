"""The processor: runs TLL processor configs (objects, dependencies, Python logic) in one loop.

    from streamproto.processor import load_spec, Processor
    spec = load_spec("commission-processor.yaml", ["processor.objects.input-channel.open.mode=seq"])
    code = asyncio.run(Processor(spec).run())

Modules: :mod:`.config` (the config tree, YAML loading, links), :mod:`.spec` (objects, aliases,
defaults, checks), :mod:`.graph` and :mod:`.reopen` (the sans-I/O state machine), :mod:`.runner`
(the asyncio edge), :mod:`.logsetup` (the reference's log format and levels).
"""
from __future__ import annotations

from streamproto.processor.config import Config, parse_defines
from streamproto.processor.runner import FatalError, Processor
from streamproto.processor.spec import ObjectSpec, ProcessorSpec, build

__all__ = ["Config", "FatalError", "ObjectSpec", "Processor", "ProcessorSpec", "build",
           "load_config", "load_spec", "run"]


def load_config(path: str, defines: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a processor config (``yaml://FILE`` or a path) and apply ``-D KEY=VALUE`` overrides,
    as ``tll-processor`` does (before ``processor.include``)."""
    from streamproto.errors import ConfigError
    from streamproto.processor.config import load
    if "://" in path:
        if not path.startswith("yaml://"):
            raise ConfigError(f"{path}: unsupported config URL (expected yaml://FILE or a path)")
        path = path[len("yaml://"):]
    root = load(path)
    for key, value in parse_defines(list(defines)):
        try:
            node = root.sub(key, throw=False)
            if node is not None and node.keys():
                raise ConfigError(f"-D {key}={value}: {key} has keys "
                                  f"({', '.join(node.keys())}); set one of them")
            root.set(key, value)
        except ConfigError as e:
            if str(e).startswith("-D"):
                raise
            raise ConfigError(f"-D {key}={value}: {e}") from None
    return root


def load_spec(path: str, defines: list[str] | tuple[str, ...] = (), *,
              allow_sys: bool = True) -> ProcessorSpec:
    """:func:`load_config` + :func:`~streamproto.processor.spec.build`."""
    root = load_config(path, defines)
    return build(root, source=path, allow_sys=allow_sys)


async def run(path: str, defines: list[str] | tuple[str, ...] = ()) -> int:
    """Load, check and run a config until stopped; the exit code."""
    from streamproto.tllfacade import installed
    spec = load_spec(path, defines)
    with installed():
        return await Processor(spec).run()
