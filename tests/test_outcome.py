"""How a trial ended (raymtl.search.outcome.classify): the status column of results.csv."""

from __future__ import annotations

from raymtl.search.outcome import FAILED, INTERRUPTED, NOT_STARTED, STOPPED_EARLY, TERMINATED, classify, error_reason


def test_each_way_a_trial_can_end_has_its_own_status():
    epoch2 = {"training_iteration": 2, "epoch": 2}
    assert classify({**epoch2, "final": True}, None, terminated=True) == TERMINATED
    assert classify(epoch2, None, terminated=True) == STOPPED_EARLY  # Tune ended it before its last epoch
    assert classify(epoch2, None, terminated=False) == INTERRUPTED  # the search was stopped while it ran
    assert classify(epoch2, RuntimeError("boom"), terminated=True) == FAILED
    # no epoch reported: interrupted if it had been started (its "started" line was printed), else never started
    assert classify({}, None, terminated=False, started=True) == INTERRUPTED
    assert classify({}, None, terminated=False, started=False) == NOT_STARTED
    assert classify(None, None, terminated=False) == NOT_STARTED


def test_error_reason_is_the_innermost_error_line():
    text = ("ray.exceptions.RayTaskError(TrainingFailedError): ...\nTraceback ...\n"
            "raymtl.train.faults.NonFiniteLossError: loss is nan at step 3\n")
    assert error_reason(text) == "NonFiniteLossError: loss is nan at step 3"
