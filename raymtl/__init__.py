"""raymtl: train and tune multi-task NLP models with Ray Train and Ray Tune + Optuna."""

__version__ = "0.1.0"
