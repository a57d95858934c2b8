"""The cohort: what the samples add up to, per patient, and how it relates to outcome.

- :mod:`.table`: the cohort table, one row per sample (``results/cohort/summary.tsv``);
- :mod:`.clinical`: the clinical table, one row per patient, checked against the sheet;
- :mod:`.features`: patient-level (and image-level) features, pooled over a patient's images;
- :mod:`.descriptions`: each feature's unit and how it pools;
- :mod:`.groups`: features compared between groups of patients;
- :mod:`.survival`: features against survival (Cox, Kaplan-Meier, log-rank);
- :mod:`.statistics`: the outcome statistics of a run in one call.
"""

from .clinical import (
    Clinical,
    check_clinical,
    check_settings,
    clinical_columns,
    configured_columns,
)
from .descriptions import DESCRIPTIVE, describe
from .features import CELL_COLUMNS, CohortFeatures, Features, SampleOutputs, cohort_features
from .groups import fdr_bh, group_tests, mixed_model_tests, rank_biserial
from .statistics import Statistics, cohort_statistics, selected_features
from .survival import cox_model, kaplan_meier, median_split, survival_tests
from .table import cohort_table, density_long, evaluation_columns, summary_row

__all__ = [
    "CELL_COLUMNS",
    "DESCRIPTIVE",
    "Clinical",
    "CohortFeatures",
    "Features",
    "Statistics",
    "SampleOutputs",
    "check_clinical",
    "check_settings",
    "clinical_columns",
    "cohort_features",
    "cohort_statistics",
    "cohort_table",
    "configured_columns",
    "cox_model",
    "density_long",
    "describe",
    "evaluation_columns",
    "fdr_bh",
    "group_tests",
    "kaplan_meier",
    "median_split",
    "mixed_model_tests",
    "rank_biserial",
    "survival_tests",
    "selected_features",
    "summary_row",
]
