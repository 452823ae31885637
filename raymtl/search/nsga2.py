"""NSGA-II that pickles.

Tune pickles the searcher, sampler included, into the experiment state (``Tuner`` start and
``--resume``). Optuna >= 5.1's genetic samplers hold a ``threading.Lock`` (``_thread_lock``), which
does not pickle; it guards in-process population caching only, so it is left out and made anew.
A module of its own so that importing :mod:`raymtl.search.samplers` needs no Optuna.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not hasattr(self, "_thread_lock"):
            self._thread_lock = threading.Lock()
