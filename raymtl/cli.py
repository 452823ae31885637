"""The ``raymtl`` command: data, models, train, tune, aux-select, effects, report, board.

Every subcommand explains itself with ``--help``. Errors that users can fix (bad config, bad
input line, unknown name) print one clear line naming the file/key and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from raymtl.errors import RaymtlError


class _PrepareHelp(argparse.Action):
    """``raymtl data prepare READER --help``: the generic flags, then READER's declared options."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.print_help()
        reader = getattr(namespace, "name", None)
        if reader:
            from raymtl.data.options import options_help
            from raymtl.data.registry import default_registry

            try:
                print("\n" + options_help(reader, default_registry().get(reader).options))
            except RaymtlError as e:
                print(f"\n{e}")
        else:
            print("\n(`raymtl data prepare READER --help` also lists READER's options)")
        parser.exit()


def _add_data(sub) -> None:
    p = sub.add_parser("data", help="prepare, inspect, list and download datasets",
                       description="Convert corpora into Arrow shards with a manifest, and inspect them.")
    dsub = p.add_subparsers(dest="data_cmd", required=True, metavar="COMMAND")
    lp = dsub.add_parser("list", help="registered datasets, their tasks, and whether a local source was found")
    lp.add_argument("--verbose", "-v", action="store_true", help="also every reader's options")
    pp = dsub.add_parser("prepare", help="read a corpus and write Arrow shards + manifest.json", add_help=False,
                         description="Write OUT/NAME/<split>/part-NNNNN.arrow and OUT/NAME/manifest.json. "
                                     "Re-running on unchanged inputs does nothing; changed inputs are rebuilt. "
                                     "A corpus without a dev split gets one carved from train (option "
                                     "dev_fraction).")
    pp.add_argument("-h", "--help", action=_PrepareHelp, help="show this help (and READER's options) and exit")
    pp.add_argument("name", metavar="READER", help="registered dataset or generic reader (see `raymtl data list`)")
    pp.add_argument("--name", dest="dataset_name", default=None,
                    help="dataset name: the shards directory, the manifest's name and the task prefix in configs "
                         "(default: a registered dataset's own name; for a generic reader the --source folder's)")
    pp.add_argument("--source", type=Path, help="directory of the source files (default: the data dir's folder)")
    pp.add_argument("--out", default=None, help="shards root (default: $RAYMTL_SHARDS_DIR or ~/.cache/raymtl/shards)")
    pp.add_argument("--rows-per-shard", type=int, default=None, help="rows per shard file (default 2000)")
    pp.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="reader option (YAML value), e.g. --option 'domains=[books,dvd]'; an unknown one is an "
                         "error (READER --help lists them)")
    pp.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ip = dsub.add_parser("inspect", help="summarise a prepared dataset's manifest")
    ip.add_argument("dir", help="directory holding manifest.json (or a pyarrow.fs URI)")
    ip.add_argument("--verify", action="store_true", help="also check every shard's sha256")
    dp = dsub.add_parser("download", help="download a dataset's official files and verify their sha256")
    dp.add_argument("name")
    dp.add_argument("--to", type=Path, required=True, help="directory to download into")


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list architectures, or show one's config fields",
                       description="Without NAME: every registered architecture with its paper, equations and "
                                   "task kinds. With NAME: its config fields and defaults.")
    p.add_argument("name", nargs="?")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train one config with Ray Train (DDP)",
                       description="Train CONFIG.yaml on N Ray Train workers (PyTorch DDP; gloo on CPU, nccl on "
                                   "GPU). Re-running the same --name with the same --storage resumes from its "
                                   "last checkpoint.")
    p.add_argument("config", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3 --set model.hidden=200")
    p.add_argument("--workers", type=int, default=1, help="DDP workers (default 1)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker (nccl backend)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--storage", default=None,
                   help="where runs are written: a local dir or s3://, gs://... (default runs/train)")
    p.add_argument("--name", default=None, help="run name (default: the config's name)")
    p.add_argument("--smoke-test", action="store_true", help="a few hundred examples and one epoch")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join: auto, HOST:PORT, or local (default: RAY_ADDRESS if set, else a "
                        "private local Ray, whatever else runs on the host)")


def _add_tune(sub) -> None:
    p = sub.add_parser("tune", help="search hyperparameters with Ray Tune + Optuna (same as raymtl/tune.py)",
                       add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)


def _add_aux_select(sub) -> None:
    from raymtl.search.aux_select import add_arguments

    p = sub.add_parser("aux-select", help="which auxiliary tasks help a main task (subset search, mean ± std over seeds)",
                       description="Search subsets of a pool of auxiliary tasks for a main task (exhaustive, TPE, or "
                                   "TPE + successive halving), with the single-task baseline, mean ± std over seeds, "
                                   "marginal effects and importances in STORAGE/NAME/aux_selection.md.")
    add_arguments(p)
    p = sub.add_parser("schedule-report", help="effect of each searched schedule parameter in a tune experiment",
                       description="Write EXPERIMENT_DIR/schedule_report.md from results.csv (binned means, "
                                   "Spearman rho, Optuna importances).")
    p.add_argument("dir", type=Path, help="a `raymtl tune` experiment directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raymtl",
        description="Train and tune multi-task NLP models (causal MTL, disparate label spaces, graph MTL) "
                    "with Ray Train and Ray Tune + Optuna.")
    from raymtl import __version__

    parser.add_argument("--version", action="version", version=f"raymtl {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    _add_data(sub)
    _add_models(sub)
    _add_train(sub)
    _add_tune(sub)
    _add_aux_select(sub)
    from raymtl.analysis.commands import add_parsers as _add_review

    _add_review(sub)  # effects, report, board
    return parser


# ---- data -------------------------------------------------------------------------------------
def cmd_data(args) -> int:
    from raymtl.data import commands

    if args.data_cmd == "list":
        return commands.list_datasets(verbose=args.verbose)
    if args.data_cmd == "prepare":
        return commands.prepare_cmd(args.name, args.source, args.out, args.rows_per_shard, args.option, args.force,
                                    dataset_name=args.dataset_name)
    if args.data_cmd == "inspect":
        return commands.inspect_cmd(args.dir, verify=args.verify)
    if args.data_cmd == "download":
        return commands.download_cmd(args.name, args.to)
    return 2


def cmd_models(args) -> int:
    from raymtl.models.base import config_fields
    from raymtl.models.registry import default_registry

    reg = default_registry()
    if args.name:
        arch = reg.get(args.name)
        m = arch.model_cls
        print(f"{arch.name} ({arch.family}): {arch.summary}")
        print(f"paper: {m.paper}\nequations: {m.equations}\ntask kinds: {', '.join(m.task_kinds)}")
        print(f"DDP find_unused_parameters: {m.find_unused_parameters}\n\nconfig fields (model.*):")
        for name, tp, default in config_fields(arch.config_cls):
            print(f"  {name:<24} {tp:<28} default {default!r}")
        return 0
    rows = [(a.name, a.family, a.model_cls.equations, ", ".join(a.model_cls.task_kinds)) for a in reg]
    w = [max(len(r[i]) for r in rows + [("name", "family", "equations", "task kinds")]) for i in range(4)]
    print("  ".join(h.ljust(w[i]) for i, h in enumerate(("name", "family", "equations", "task kinds"))))
    for r in rows:
        print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    print("\n`raymtl models NAME` shows an architecture's config fields.")
    return 0


def cmd_train(args) -> int:
    from raymtl.train.run import run_train

    from raymtl.paths import default_storage

    summary = run_train(args.config, overrides=args.overrides, workers=args.workers, use_gpu=args.gpu,
                        cpus_per_worker=args.cpus_per_worker, storage=default_storage(args.storage, "train"),
                        name=args.name,
                        smoke_test=args.smoke_test, address=args.address)
    return 0 if summary is not None else 1


def cmd_tune(args) -> int:
    from raymtl import tune

    return tune.main(args.args)


def cmd_aux_select(args) -> int:
    from raymtl.search.aux_select import options_from_args, run_aux_select

    run_aux_select(options_from_args(args))
    return 0


def cmd_schedule_report(args) -> int:
    from raymtl.search.aux_select import write_schedule_report

    print(f"wrote {write_schedule_report(args.dir)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `raymtl models | head`: the reader left; no traceback, nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit fails too
        return 141  # 128 + SIGPIPE, as a shell reports a command killed by it


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["tune"]:  # `raymtl tune ...` is exactly `python raymtl/tune.py ...`
        from raymtl import tune

        try:
            return tune.main(argv[1:])
        except RaymtlError as e:
            print(f"raymtl: error: {e}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"data": cmd_data, "models": cmd_models, "train": cmd_train, "tune": cmd_tune}
    handlers.update({"aux-select": cmd_aux_select, "schedule-report": cmd_schedule_report})
    from raymtl.analysis.commands import HANDLERS as review_handlers

    handlers.update(review_handlers)  # effects, report, board
    try:
        return handlers[args.cmd](args)
    except RaymtlError as e:
        print(f"raymtl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("raymtl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
