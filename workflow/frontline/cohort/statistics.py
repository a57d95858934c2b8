"""The outcome statistics of a cohort in one call: group tests, survival, Kaplan-Meier curves.

Which features are tested: the numeric columns of ``features.tsv`` matching one of the
``cohort.features`` patterns (``fnmatch``: ``density_per_mm2_*``), never the descriptive ones
(:data:`frontline.cohort.descriptions.DESCRIPTIVE`, cell counts). Everything that was not
computable or was left out is said in :attr:`Statistics.notes`; the tables are written even
when a statistic cannot be made (its rows then carry the reason).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .clinical import EVENT, GROUP, TIME, Clinical
from .descriptions import DESCRIPTIVE
from .groups import MIN_GROUP, group_tests, mixed_model_tests
from .survival import kaplan_meier, median_split, survival_tests

log = logging.getLogger(__name__)
CALL = "phenotype_call"


@dataclass
class Statistics:
    """The tables of the cohort_statistics rule (each may be empty, never absent).

    ``group_tests``: :func:`frontline.cohort.groups.group_tests` joined with the mixed-model
    columns. ``survival``: :func:`frontline.cohort.survival.survival_tests`. ``km_curves``,
    ``km_tests``: :func:`frontline.cohort.survival.kaplan_meier` of each split. ``notes``:
    ``topic, note``. ``fdr``: the threshold the ``significant`` columns used.
    """

    group_tests: pd.DataFrame
    survival: pd.DataFrame
    km_curves: pd.DataFrame
    km_tests: pd.DataFrame
    notes: pd.DataFrame
    fdr: float
    group_column: str | None


def selected_features(features: pd.DataFrame, patterns: Sequence[str]) -> list[str]:
    """The feature columns the statistics test (see the module docstring), in table order."""
    return [
        c
        for c in features.columns
        if c not in DESCRIPTIVE
        and not c.startswith("n_cells")
        and c not in ("patient", "sample")
        and pd.api.types.is_numeric_dtype(features[c])
        and any(fnmatch.fnmatchcase(c, p) for p in patterns)
    ]


def cohort_statistics(
    patients: pd.DataFrame,
    images: pd.DataFrame,
    clinical: Clinical,
    cohort: Mapping[str, Any],
) -> Statistics:
    """Group tests, survival models and Kaplan-Meier curves of a cohort's features.

    Parameters
    ----------
    patients : ``features.tsv`` (one row per patient, a ``patient`` column)
    images : ``image_features.tsv`` (one row per image, ``sample, patient`` columns)
    clinical : the checked clinical table (:func:`frontline.cohort.check_clinical`)
    cohort : the config's ``cohort:`` section

    Returns
    -------
    :class:`Statistics`
    """
    features = patients.assign(patient=patients["patient"].astype(str)).set_index("patient")
    names = selected_features(features, cohort["features"])
    notes = [("clinical", n) for n in clinical.notes]
    if not names:
        notes.append(
            ("features", f"no feature column matches cohort.features {cohort['features']}")
        )
    table = clinical.table
    fdr = float(cohort["fdr"])
    if GROUP in table:
        tests, more = _group_tests(features, images, table[GROUP], names, cohort)
        notes += more
    else:
        tests = pd.DataFrame(columns=["feature", "reason"])
        notes.append(("groups", "no group column configured (cohort.group): no group tests"))
    curves, km = pd.DataFrame(), []
    if TIME in table and EVENT in table:
        survival, more = survival_tests(features, table, names, clinical.covariates, fdr)
        notes += [("survival", n) for n in more]
        curves, km = _kaplan_meier(features, table, survival, int(cohort["km_top"]))
    else:
        survival = pd.DataFrame(columns=["feature", "reason"])
        notes.append(
            ("survival", "no survival columns configured (cohort.survival): no Cox models")
        )
    for topic, note in notes:
        log.warning("cohort %s: %s", topic, note)
    return Statistics(
        group_tests=tests,
        survival=survival,
        km_curves=curves,
        km_tests=pd.DataFrame(km),
        notes=pd.DataFrame(notes, columns=["topic", "note"]),
        fdr=fdr,
        group_column=clinical.columns.get(GROUP),
    )


def _group_tests(features, images, groups, names, cohort):
    notes = []
    counts = groups.reindex(features.index).value_counts()
    small = counts[counts < MIN_GROUP]
    if len(small):
        said = ", ".join(f"'{g}' ({n})" for g, n in small.items())
        notes.append(
            (
                "groups",
                f"group(s) with fewer than {MIN_GROUP} patients are left out of the "
                f"group tests: {said}",
            )
        )
    if (counts >= MIN_GROUP).sum() < 2:
        notes.append(
            (
                "groups",
                f"fewer than 2 groups with {MIN_GROUP} patients: no group test "
                f"is computable (groups: { ({str(k): int(v) for k, v in counts.items()}) })",
            )
        )
    tests = group_tests(
        features, groups, names, float(cohort["fdr"]), int(cohort["bootstrap"]), int(cohort["seed"])
    )
    if not tests.empty:
        mixed = mixed_model_tests(images, groups, names, float(cohort["fdr"]))
        tests = tests.merge(mixed, on="feature", how="left")
    return tests, notes


def _kaplan_meier(features, clinical, survival, top):
    time, event = clinical[TIME], clinical[EVENT]
    splits = []
    if CALL in features:
        splits.append((CALL, features[CALL].where(features[CALL].notna())))
    if top > 0 and not survival.empty and "p" in survival:
        best = survival.dropna(subset=["p"]).nsmallest(top, "p")["feature"]
        splits += [(f"{name} (median split)", median_split(features[name])) for name in best]
    curves, tests = [], []
    for name, labels in splits:
        curve, test = kaplan_meier(labels.reindex(features.index), time, event, name)
        curves.append(curve)
        tests.append(test)
    return (pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()), tests
