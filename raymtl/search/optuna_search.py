"""Ray's ``OptunaSearch`` with the study record raymtl's trials need (see raymtl/search/optuna_study.py).

Ray's searcher already passes ``storage`` to ``optuna.create_study`` and reports every result with
``trial.report(metric, training_iteration)``, then ``study.tell`` COMPLETE, or PRUNED/FAIL only
when the last result lacks the metric; so an ASHA-stopped trial would be COMPLETE and a failed one
with results COMPLETE too. Here: intermediate values are the per-epoch dev metric at step = epoch
(the trial's closing ``final`` report, which repeats the best epoch's score, is not one); a trial
whose last result is the closing report is COMPLETE with its value; one stopped before it (by the
scheduler) is PRUNED (Optuna takes its last intermediate value); one that raised is FAIL (no value).
The Ray trial id goes on the Optuna trial as the user attribute ``ray_trial_id``.

A module-level class: Tune pickles the searcher into the experiment state for ``--resume``.
"""

from __future__ import annotations

import logging

from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

log = logging.getLogger(__name__)


class StudySearch(OptunaSearch):
    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if result.get("final") or trial_id in self._completed_trials:
            return  # the closing report repeats the best epoch's score
        if isinstance(self.metric, list):  # no intermediate values in multi-objective studies: keep the latest
            latest = self.__dict__.setdefault("_latest", {}).setdefault(trial_id, {})
            latest.update({m: result[m] for m in self.metric if result.get(m) is not None})
            return
        value = result.get(self.metric)
        if value is None or trial_id not in self._ot_trials:
            return
        step = int(result.get("epoch") or result.get("training_iteration") or 0)
        steps = self.__dict__.setdefault("_reported_steps", {}).setdefault(trial_id, set())
        if step not in steps:
            steps.add(step)
            self._ot_trials[trial_id].report(float(value), step)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        if result and not error:
            # A result the scheduler stops the trial on reaches only on_trial_complete: record it too.
            self.on_trial_result(trial_id, result)
        ot_trial = self._ot_trials[trial_id]
        multi = isinstance(self.metric, list)
        # An objective the closing report lacks (e.g. train/seconds) is taken from the latest epoch.
        latest = self.__dict__.get("_latest", {}).get(trial_id, {})
        values = [(result or {}).get(m, latest.get(m)) for m in (self.metric if multi else [self.metric])]
        if error:
            state, told, status = TrialState.FAIL, None, "failed"
        elif result and result.get("final") and all(v is not None for v in values):
            state, told, status = TrialState.COMPLETE, (values if multi else values[0]), "terminated"
        else:  # stopped before its closing report: the scheduler's early stop
            # Optuna prunes single-objective trials only; a stopped multi-objective trial is kept off
            # the Pareto front (its short training would look cheap there): FAIL, status stopped_early.
            state, told, status = (TrialState.FAIL if multi else TrialState.PRUNED), None, "stopped_early"
        try:
            ot_trial.set_user_attr("ray_trial_id", trial_id)
            ot_trial.set_user_attr("raymtl_status", status)
            self._ot_study.tell(ot_trial, told, state=state)
        except RuntimeError as e:
            # GridSampler.after_trial calls study.stop() once the grid is covered, which raises
            # outside optimize(); tell stores the trial's state and value regardless (its finally).
            if "Study.stop" not in str(e):
                log.warning("optuna: trial %s not recorded in the study: %s", trial_id, e)
        except Exception as e:  # e.g. a NaN value, which Optuna refuses: the search goes on
            log.warning("optuna: trial %s not recorded in the study: %s", trial_id, e)
        self._completed_trials.add(trial_id)
