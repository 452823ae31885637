"""The record an architecture plugin registers with: its name, model class, config and family.

Architectures import this module, the registry imports the architectures; this module imports no
architecture, so there is no loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from raymtl.models.base import MTLModel


@dataclass(frozen=True)
class Architecture:
    name: str
    model_cls: type[MTLModel]
    config_cls: type
    family: str  # "causal-mtl" | "disparate-label-spaces" | "graph-mtl"
    summary: str = ""
