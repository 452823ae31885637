"""What a search leaves for review besides its results table: the searched parameters, Optuna's
parameter importances and one TensorBoard HParams session per trial (Ray-free).

Each trial's HParams session goes into the trial's own run (``<trial dir>/tensorboard``, where the
training loop writes its scalars, figures and projector), so TensorBoard shows one run per trial and
its HParams row holds the trial's final metrics (``hparam/<metric>`` scalars of that run). Every run
carries the same experiment summary (all searched parameters with their domains, all metrics): the
HParams plugin reads the first one it finds, so which one it picks does not matter.

The report's Optuna study (the finished trials replayed over the searched parameters only), its
parallel coordinates and its importances (importances.json, drawn and tabulated alike) are here too.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from raymtl import atomic

HPARAMS_FILE = "events.out.tfevents.raymtl-hparams"  # sorts after the loop's files; rewritten on --resume
STATUSES = ("terminated", "stopped_early", "failed", "not_started")
# results.csv of earlier versions: TERMINATED / STOPPED / ERROR
LEGACY_STATUS = {"TERMINATED": "terminated", "STOPPED": "stopped_early", "ERROR": "failed",
                 "PENDING": "not_started"}


def normal_status(raw: Any) -> str:
    """A results.csv status as one of :data:`STATUSES` (older spellings mapped)."""
    s = str(raw).strip()
    return LEGACY_STATUS.get(s, s.lower())


def searched_params(space) -> list[str]:
    """Names of the parameters Optuna suggests (fixed values are constants, not searched)."""
    seen: list[str] = []
    for p in _all_params(space):
        if not p.is_fixed and p.name not in seen:
            seen.append(p.name)
    return seen


def _value(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def finished_rows(df, score_col: str):
    """Rows of trials that reported a score (failed and never-started trials left out)."""
    if not len(df) or score_col not in df:
        return df.iloc[0:0]
    ok = df["status"].map(normal_status).isin(("terminated", "stopped_early")) if "status" in df else True
    return df[ok & df[score_col].notna()]


def param_importances(space, df, score_col: str, *, seed: int = 0) -> dict[str, float]:
    """Optuna's fANOVA importances of the searched parameters over the finished trials (replayed
    into an in-memory study with the space's own distributions; seeded, so reruns agree)."""
    import optuna

    done = finished_rows(df, score_col)
    if len(done) < 3:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if space.mode == "max" else "minimize")
    for _, row in done.iterrows():
        params = {k[6:]: _value(v) for k, v in row.items() if k.startswith("param/") and not _missing(v)}
        study.enqueue_trial(params, skip_if_exists=False)
        value = float(row[score_col])
        study.optimize(lambda t: (space.define_by_run(t), value)[1], n_trials=1)
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()}
    except (RuntimeError, ValueError) as e:  # e.g. a single distinct value per parameter
        return {"_error": str(e)}  # type: ignore[dict-item]


def trial_run_dir(exp_dir: Path, trial: str) -> Path | None:
    """The trial's own TensorBoard run (``<trial dir>/tensorboard``); None when the trial has no
    directory (it never started)."""
    dirs = sorted(d for d in Path(exp_dir).glob(f"*_{trial}_*") if d.is_dir())
    return dirs[0] / "tensorboard" if dirs else None


def metric_keys(row: Mapping[str, Any]) -> dict[str, float]:
    """The final metrics of a results row that HParams shows: ``dev/*``, ``test/*``, ``best_dev_score``."""
    out = {}
    for k, v in row.items():
        v = _value(v)
        if (str(k).startswith(("dev/", "test/")) or k == "best_dev_score") and isinstance(v, (int, float)) \
                and not isinstance(v, bool) and math.isfinite(v):
            out[str(k)] = float(v)
    return out


def _hparam_value(v: Any) -> Any:
    v = _value(v)
    return v if isinstance(v, (bool, int, float, str)) else str(v)


def _hparam_info(name: str, param, values: Iterable[Any]):
    from google.protobuf import struct_pb2
    from tensorboard.plugins.hparams import api_pb2

    if param is not None and param.type in ("int", "float"):
        return api_pb2.HParamInfo(name=name, type=api_pb2.DATA_TYPE_FLOAT64,
                                  domain_interval=api_pb2.Interval(min_value=float(param.low),
                                                                   max_value=float(param.high)))
    choices = list(param.choices) if param is not None else sorted({str(v) for v in values})
    if choices and all(isinstance(c, bool) for c in choices):
        kind, field = api_pb2.DATA_TYPE_BOOL, "bool_value"
    elif choices and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices):
        kind, field = api_pb2.DATA_TYPE_FLOAT64, "number_value"
    else:
        kind, field, choices = api_pb2.DATA_TYPE_STRING, "string_value", [str(c) for c in choices]
    domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: c}) for c in choices])
    return api_pb2.HParamInfo(name=name, type=kind, domain_discrete=domain)


def _set_value(value_pb, v: Any) -> None:
    if isinstance(v, bool):
        value_pb.bool_value = v
    elif isinstance(v, (int, float)):
        value_pb.number_value = float(v)
    else:
        value_pb.string_value = str(v)


def _plugin_summary(tag: str, data):
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import metadata

    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME,
                                                                  content=data.SerializeToString()))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def _write_events(path: Path, summaries: list[tuple[int, Any]]) -> None:
    """An event file at ``path`` holding ``(step, Summary)`` records, written under a temporary
    name (without 'tfevents', so TensorBoard never reads half of it) and renamed."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    now = time.time()
    with atomic.atomic_path(path, stem="raymtl-hparams") as tmp, open(tmp, "wb") as f:
        w = RecordWriter(f)
        w.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        for step, summary in summaries:
            w.write(Event(wall_time=now, step=step, summary=summary).SerializeToString())
        w.flush()


def write_hparams(space, df, exp_dir: Path) -> list[Path]:
    """One HParams session per trial that started, in the trial's own TensorBoard run:
    its searched parameters (``aux_tasks`` when auxiliary tasks are searched), its ``status`` and
    its final metrics as ``hparam/<metric>`` scalars. Returns the runs written."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    exp_dir = Path(exp_dir)
    by_name = {p.name: p for p in _all_params(space)}
    names = [n for n in searched_params(space) if f"param/{n}" in df]
    rows = []
    for _, row in df.iterrows():
        run = trial_run_dir(exp_dir, str(row["trial"]))
        if run is None and normal_status(row.get("status", "")) != "not_started":
            # s3:// / gs:// storage: the trial dirs are remote; the session goes with the outputs
            run = exp_dir / f"trial_{row['trial']}" / "tensorboard"
        if run is not None:
            rows.append((row, run))
    metrics = sorted({k for row, _ in rows for k in metric_keys(row)})
    infos = [_hparam_info(n, by_name.get(n), df[f"param/{n}"].dropna().tolist()) for n in names]
    if "aux_tasks" in df:
        infos.append(_hparam_info("aux_tasks", None, df["aux_tasks"].dropna().tolist()))
    statuses = {normal_status(s) for s in df["status"]} if "status" in df else set()
    infos.append(_hparam_info("status", None, sorted(statuses | set(STATUSES))))
    experiment = api_pb2.Experiment(
        hparam_infos=infos, time_created_secs=time.time(),
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=f"hparam/{k}"),
                                         dataset_type=api_pb2.DATASET_VALIDATION if k.startswith("dev")
                                         or k == "best_dev_score" else api_pb2.DATASET_UNKNOWN)
                      for k in metrics])
    exp_summary = _plugin_summary(metadata.EXPERIMENT_TAG,
                                  plugin_data_pb2.HParamsPluginData(experiment=experiment,
                                                                    version=metadata.PLUGIN_DATA_VERSION))
    written = []
    for row, run in rows:
        status = normal_status(row.get("status", ""))
        start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
        for n in names:
            v = row.get(f"param/{n}")
            if not _missing(_value(v)):
                _set_value(start.hparams[n], _hparam_value(v))
        if "aux_tasks" in row and not _missing(row["aux_tasks"]):
            start.hparams["aux_tasks"].string_value = str(row["aux_tasks"])
        start.hparams["status"].string_value = status
        end = plugin_data_pb2.SessionEndInfo(
            status=api_pb2.STATUS_FAILURE if status == "failed" else api_pb2.STATUS_SUCCESS,
            end_time_secs=time.time())
        version = metadata.PLUGIN_DATA_VERSION
        step = int(_value(row["epochs_run"])) if not _missing(_value(row.get("epochs_run"))) else 0
        records = [(0, exp_summary),
                   (0, _plugin_summary(metadata.SESSION_START_INFO_TAG,
                                       plugin_data_pb2.HParamsPluginData(session_start_info=start, version=version)))]
        records += [(step, Summary(value=[Summary.Value(tag=f"hparam/{k}", simple_value=v)]))
                    for k, v in metric_keys(row).items()]
        records.append((step, _plugin_summary(metadata.SESSION_END_INFO_TAG,
                                              plugin_data_pb2.HParamsPluginData(session_end_info=end,
                                                                                version=version))))
        run.mkdir(parents=True, exist_ok=True)
        _write_events(run / HPARAMS_FILE, records)
        written.append(run)
    return written


def _all_params(space) -> list:
    params = list(space.params)
    if space.aux_tasks is not None:
        params += list(space.aux_tasks.selector_params())
        params += [space.aux_tasks.weight_param(t) for t in space.aux_tasks.pool]
    for block in space.conditional:
        params += list(block.params)
    return params


# ---- the report's Optuna study ----------------------------------------------------------------
def replay_study(exp):
    """An in-memory Optuna study holding the finished trials (params, score), for its visualisations.

    Distributions are inferred from the values: integers -> IntDistribution, other numbers ->
    FloatDistribution (log when positive and spanning two decades), the rest -> categorical."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    df = exp.results
    score = exp.score_col
    done = finished_rows(df, score)
    cols = [f"param/{n}" for n in exp.searched]  # constants of the space are not searched
    if "aux_tasks" in df:
        cols.append("aux_tasks")
    dists = {}
    for c in cols:
        vals = [v for v in done[c].tolist() if not (isinstance(v, float) and math.isnan(v)) and v is not None]
        if not vals:
            continue
        name = c[6:] if c.startswith("param/") else c
        nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(nums) == len(vals):
            lo, hi = min(nums), max(nums)
            if all(float(v).is_integer() for v in nums) and str(done[c].dtype).startswith("int"):
                dists[name] = IntDistribution(int(lo), int(hi))
            else:
                dists[name] = FloatDistribution(float(lo), float(hi), log=lo > 0 and hi / lo >= 100)
        else:
            dists[name] = CategoricalDistribution(sorted({str(v) for v in vals}))
    study = optuna.create_study(direction="maximize" if exp.mode == "max" else "minimize")
    for _, row in done.iterrows():
        params, used = {}, {}
        for c in cols:
            name = c[6:] if c.startswith("param/") else c
            v = row[c]
            if name not in dists or v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            d = dists[name]
            params[name] = str(v) if isinstance(d, CategoricalDistribution) else (
                int(v) if isinstance(d, IntDistribution) else float(v))
            used[name] = d
        study.add_trial(optuna.trial.create_trial(params=params, distributions=used, value=float(row[score]),
                                                  user_attrs={"trial": str(row["trial"])}))
    return study


def parallel_figure(exp, study):
    """Optuna's parallel coordinates of the replayed study: the objective and the searched parameters."""
    import optuna.visualization.matplotlib as ovm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = ovm.plot_parallel_coordinate(study, target_name=exp.score_col)
    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(max(fig.get_size_inches()[0], 9), max(fig.get_size_inches()[1], 5))
    return fig


def figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    from raymtl.analysis.plots import png_bytes

    try:
        return png_bytes(fig)
    finally:
        plt.close(fig)  # Optuna draws through pyplot


def importance_values(exp, study) -> tuple[dict[str, float] | str, str]:
    """The importances the report shows, chart and table alike, and where they come from:
    importances.json as ``raymtl tune`` wrote it; without one, fANOVA (seeded) on the replayed
    study. A string instead of values says why there are none."""
    if exp.importances:
        return dict(exp.importances), "importances.json"
    import optuna

    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return {k: float(v) for k, v in found.items()}, "replayed trials"
    except (RuntimeError, ValueError) as e:
        return str(e), ""


def importance_figure(values: dict[str, float]):
    from raymtl.analysis.plots import bar_chart

    return bar_chart(values, title="parameter importances", xlabel="importance (share of the score's variance)")
