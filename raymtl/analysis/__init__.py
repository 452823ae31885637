"""Analysis of trained models and searches: causal effects, diversity, plots, reports."""
