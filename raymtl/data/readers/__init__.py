"""Readers, one module per corpus format; each module defines ``ENTRY`` (a DatasetEntry).

To add a dataset: write ``readers/<name>.py`` with a reader function and ``ENTRY``, then add it
to ``ENTRIES`` below.
"""

from __future__ import annotations

from raymtl.data.readers import (conll04, conll2003, conll_columns, fnc1, fudan_mtl, jsonl, semeval14,
                                 semeval16_absa, semeval16_stance, twitter_target)

ENTRIES: tuple = (
    semeval14.ENTRY,
    semeval14.GENERIC,
    semeval16_absa.ENTRY_REST,
    semeval16_absa.ENTRY_LAPT,
    fudan_mtl.ENTRY,
    conll04.ENTRY,
    conll2003.ENTRY,
    twitter_target.ENTRY,
    semeval16_stance.ENTRY,
    fnc1.ENTRY,
    conll_columns.ENTRY,
    jsonl.ENTRY,
)
