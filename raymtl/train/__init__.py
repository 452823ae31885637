"""Training on Ray Train: config, loop, metrics, schedules, task sampling."""
