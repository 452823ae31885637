"""The diversity features moved to :mod:`raymtl.data.diversity`: models and the train loop compute
them as inputs, and data/ sits below both (analysis/ is above them). Old imports keep working."""

from __future__ import annotations

from raymtl.data.diversity import (FEATURES, RENYI_ALPHA, diversity_features, entropy,  # noqa: F401
                                   feature_matrix, num_word_types, quadratic_entropy, renyi_entropy,
                                   simpsons_index, split_features, term_distribution, type_token_ratio)
