"""Architecture registry: name -> (model class, config dataclass).

Each architecture is one module under ``raymtl/models/architectures/`` defining a config
dataclass and an ``MTLModel`` subclass, listed in ``architectures/__init__.py``'s
``ARCHITECTURES``. See docs/architectures.md ("Adding an architecture").
"""

from __future__ import annotations

from typing import Any, Mapping

from raymtl.data.schema import TaskSpec
from raymtl.configs import from_mapping
from raymtl.errors import ConfigError
from raymtl.models.architectures import ARCHITECTURES
from raymtl.models.base import MTLModel, check_task_kinds
from raymtl.models.entry import Architecture

__all__ = ["Architecture", "ArchitectureRegistry", "build_config", "default_registry"]


def build_config(arch: Architecture, values: Mapping[str, Any] | None, *, where: str = "model") -> Any:
    """The typed config of ``arch`` from a mapping; unknown keys and wrong types fail naming the key."""
    return from_mapping(arch.config_cls, values, where=where)


class ArchitectureRegistry:
    def __init__(self, archs=()):
        self._archs: dict[str, Architecture] = {}
        for a in archs:
            self.register(a)

    def register(self, arch: Architecture) -> None:
        if arch.name in self._archs:
            raise ValueError(f"architecture {arch.name!r} registered twice")
        self._archs[arch.name] = arch

    def get(self, name: str) -> Architecture:
        try:
            return self._archs[name]
        except KeyError:
            raise ConfigError(f"unknown architecture {name!r}; registered: {', '.join(self.names())}",
                              key="model.arch") from None

    def names(self) -> list[str]:
        return sorted(self._archs)

    def __iter__(self):
        return iter(self._archs[n] for n in self.names())

    def build(self, name: str, config: Mapping[str, Any] | None, tasks: list[TaskSpec], vocab_size: int,
              **kwargs: Any) -> MTLModel:
        arch = self.get(name)
        check_task_kinds(arch.model_cls, tasks)
        cfg = build_config(arch, config)
        return arch.model_cls(cfg, tasks, vocab_size, **kwargs)


def default_registry() -> ArchitectureRegistry:
    return ArchitectureRegistry(ARCHITECTURES)
