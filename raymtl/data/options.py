"""Reader options, declared once per reader: name, type, default and help.

A reader's ``DatasetEntry.options`` is a :class:`ReaderOptions`: a mapping option -> default (so
``dict(entry.options)`` gives the defaults) that also holds the declarations. The one declaration
drives ``raymtl data prepare READER --help``, ``raymtl data list --verbose``, the option check of
``prepare`` (an unknown option or a wrongly typed value is a ConfigError naming it and the valid
ones) and the option tables of docs/adding_a_dataset.md (:func:`options_markdown`).

Every reader also takes :data:`COMMON` (the one dev-carving rule of ``prepare``) unless it
declares an option of the same name itself (e.g. another default ``dev_fraction``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import yaml

from raymtl.errors import ConfigError

# type name -> what it accepts, for messages
TYPES = {
    "bool": "true or false",
    "int": "an integer",
    "float": "a number",
    "fraction": "a number in [0, 1)",
    "str": "a string",
    "list": "a list, e.g. [a, b]",
    "mapping": "a mapping, e.g. '{a: 1, b: 2}'",
    "str|mapping": "a string or a mapping, e.g. '{a: 1}'",
    "list|mapping": "a list or a mapping",
}


@dataclass(frozen=True)
class ReaderOption:
    """One option of a reader: ``--option NAME=VALUE`` (a YAML value of ``type``)."""

    name: str
    type: str
    default: object
    help: str

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"option {self.name}: unknown type {self.type!r}")

    def check(self, value: object, *, reader: str) -> object:
        """``value`` (``None``: the default) if it is of this option's type, else a ConfigError."""
        if value is None:
            return self.default
        t = self.type
        ok = {
            "bool": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, (int, float)) and not isinstance(value, bool),
            "fraction": isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1,
            "str": isinstance(value, str),
            "list": isinstance(value, (list, tuple)),
            "mapping": isinstance(value, Mapping),
            "str|mapping": isinstance(value, (str, Mapping)),
            "list|mapping": isinstance(value, (list, tuple, Mapping)),
        }[t]
        if not ok:
            raise ConfigError(f"option {self.name} of reader {reader} must be {TYPES[t]}, got {value!r:.80}",
                              key=f"--option {self.name}")
        return float(value) if t in ("float", "fraction") else value  # type: ignore[arg-type]


# The dev-carving rule of ``prepare`` (see raymtl/data/prepare.py), taken by every reader.
DEV_FRACTION = ReaderOption(
    "dev_fraction", "fraction", 0.1,
    "share of the train examples held out as dev when the corpus has no dev split (seeded by example "
    "id, recorded in the manifest notes); 0 keeps no dev")
SEED = ReaderOption("seed", "int", 0, "seed of the dev holdout (and of any other seeded split)")
COMMON = (DEV_FRACTION, SEED)


class ReaderOptions(Mapping[str, object]):
    """A reader's declared options plus :data:`COMMON`; as a mapping: option -> default."""

    def __init__(self, *specs: ReaderOption):
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"an option is declared twice: {names}")
        own = {s.name: s for s in specs}
        self._specs = {**own, **{c.name: c for c in COMMON if c.name not in own}}

    def __getitem__(self, name: str) -> object:
        return self._specs[name].default

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def specs(self) -> tuple[ReaderOption, ...]:
        return tuple(self._specs.values())

    def resolve(self, given: Mapping[str, object], *, reader: str) -> dict[str, object]:
        """The defaults updated by ``given``, each checked; keys starting with ``_`` (set by
        ``prepare`` itself, e.g. ``_source_dir``) pass unchecked."""
        out = dict(self)
        for name, value in dict(given).items():
            if name.startswith("_"):
                out[name] = value
                continue
            spec = self._specs.get(name)
            if spec is None:
                raise ConfigError(f"unknown option {name!r} for reader {reader}; its options: "
                                  f"{', '.join(self._specs)}", key=f"--option {name}")
            out[name] = spec.check(value, reader=reader)
        return out


def declared(options: Mapping[str, object]) -> ReaderOptions:
    """``options`` as :class:`ReaderOptions`; a plain mapping of defaults (an entry built without
    declarations) declares each option with its default's type and no help."""
    if isinstance(options, ReaderOptions):
        return options
    common = {c.name: c for c in COMMON}
    return ReaderOptions(*(ReaderOption(k, common[k].type if k in common else _type_of(v), v,
                                        common[k].help if k in common else "") for k, v in options.items()))


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return "str"


def _show(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def options_help(reader: str, options: Mapping[str, object]) -> str:
    """The text ``raymtl data prepare READER --help`` and ``raymtl data list --verbose`` show."""
    specs = declared(options).specs
    lines = [f"options of reader {reader} (--option NAME=VALUE, VALUE in YAML):"]
    width = max(len(s.name) for s in specs)
    for s in specs:
        lines.append(f"  {s.name:<{width}}  {s.type}, default {_show(s.default)}")
        lines += textwrap.wrap(s.help, 100, initial_indent=" " * (width + 4), subsequent_indent=" " * (width + 4))
    return "\n".join(lines)


def options_markdown(options: Mapping[str, object]) -> str:
    """A Markdown table of the options (the tables in docs/adding_a_dataset.md are this output)."""
    rows = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for s in declared(options).specs:
        kind, meaning = s.type.replace("|", " or "), s.help.replace("|", "/")
        rows.append(f"| `{s.name}` | {kind} | `{_show(s.default)}` | {meaning} |")
    return "\n".join(rows)


def parse_cli_options(items: Iterable[str]) -> dict[str, object]:
    """``["k=v", ...]`` (VALUE in YAML) -> ``{k: v}``; a malformed item is a ConfigError."""
    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"option {item!r} is not NAME=VALUE", key="--option")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError as err:
            raise ConfigError(f"option {k}: value {v!r} is not YAML ({err.__class__.__name__})",
                              key=f"--option {k}") from None
    return out
