"""Features against survival: Cox proportional hazards, Kaplan-Meier curves, log-rank tests.

Per feature, over the patients with a value, a time and an event (``lifelines``):

- univariable Cox model of the feature z-scored over those patients, so the hazard ratio is
  per standard deviation of the feature (HR < 1: higher values, lower hazard), with its 95 %
  interval, Wald p, Benjamini-Hochberg FDR over the features, and Harrell's concordance;
- the same adjusted for ``cohort.covariates`` (numbers as they are; other columns as 0/1
  indicators of each level but the first), over the patients that also have every covariate;
- a proportional-hazards check of the feature in each model (``lifelines``'
  ``proportional_hazard_test`` with rank-transformed time, the Schoenfeld-residual test):
  ``ph_violated`` where its p < 0.05, so the hazard ratio is an average over time there;
- Kaplan-Meier curves (groups of at least two patients) with the log-rank p for the
  patients' immune call and for the ``cohort.km_top`` features with the smallest
  univariable p, split at their median (``high``: above it).

Not computable (NaN, with the reason): no events, fewer than 3 patients, a feature with the
same value everywhere, a model that did not converge. Fewer than 10 events per variable give
unstable estimates: a note says so.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .groups import MIN_GROUP, below, fdr_bh

log = logging.getLogger(__name__)
MIN_PATIENTS = 3
EVENTS_PER_VARIABLE = 10  # below this many events per model variable: a note
PH_ALPHA = 0.05
COLUMNS = ("hr_per_sd", "ci_low", "ci_high", "p", "concordance", "ph_p", "n_patients", "n_events")


def covariate_design(clinical: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Covariates as model columns: numbers as they are, text as 0/1 indicators (first level
    left out); NaN rows where any covariate is missing."""
    parts = []
    for name in covariates:
        column = clinical[name]
        if pd.api.types.is_numeric_dtype(column):
            parts.append(column.astype(float).rename(name))
        else:
            levels = sorted(column.dropna().astype(str).unique())
            for level in levels[1:]:
                indicator = (column.astype(str) == level).astype(float).where(column.notna())
                parts.append(indicator.rename(f"{name}={level}"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=clinical.index)


def cox_model(
    values: pd.Series, time: pd.Series, event: pd.Series, design: pd.DataFrame | None = None
) -> dict:
    """Cox model of one feature (z-scored), optionally with covariate columns.

    Parameters
    ----------
    values : patient -> feature value
    time, event : patient -> survival time (any unit), event (1/0)
    design : patient -> covariate columns (:func:`covariate_design`), or None

    Returns
    -------
    dict with :data:`COLUMNS` and ``reason`` ("" when computable)
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    data = pd.DataFrame({"feature": values, "time": time, "event": event})
    if design is not None:
        data = data.join(design)
    data = data.dropna()
    out = dict.fromkeys(COLUMNS, np.nan)
    out.update(n_patients=len(data), n_events=int(data["event"].sum()), reason="")
    sd = data["feature"].std(ddof=1) if len(data) > 1 else np.nan
    if out["n_events"] == 0:
        out["reason"] = "no events (every event value is 0)"
    elif len(data) < MIN_PATIENTS:
        out["reason"] = f"fewer than {MIN_PATIENTS} patients with a value, time and event"
    elif not sd > 0:
        out["reason"] = "the same value for every patient"
    if out["reason"]:
        return out
    data["feature"] = (data["feature"] - data["feature"].mean()) / sd
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(data, duration_col="time", event_col="event")
            ph = proportional_hazard_test(cph, data, time_transform="rank").summary
        except Exception as err:  # lifelines raises ConvergenceError and numpy errors
            out["reason"] = f"the Cox model did not fit ({type(err).__name__}: {err})"
            return out
    row = cph.summary.loc["feature"]
    out.update(
        hr_per_sd=float(row["exp(coef)"]),
        ci_low=float(row["exp(coef) lower 95%"]),
        ci_high=float(row["exp(coef) upper 95%"]),
        p=float(row["p"]),
        concordance=float(cph.concordance_index_),
        ph_p=float(ph.loc["feature", "p"]),
    )
    trouble = sorted(
        {
            str(w.message).split("\n")[0][:120]
            for w in caught
            if "Convergence" in w.category.__name__
        }
    )
    if trouble:
        out["reason"] = "fit warning: " + "; ".join(trouble)
    return out


def survival_tests(
    features: pd.DataFrame,
    clinical: pd.DataFrame,
    names: Sequence[str],
    covariates: Sequence[str],
    fdr: float,
) -> tuple[pd.DataFrame, list[str]]:
    """Univariable and covariate-adjusted Cox models of each feature.

    Parameters
    ----------
    features : one row per patient, indexed by patient
    clinical : indexed by patient, columns ``time``, ``event`` and the covariates
    names : the feature columns to model
    covariates : the covariate columns of ``clinical`` (empty: no adjusted models)
    fdr : the false discovery rate at which ``significant`` is set

    Returns
    -------
    (table, notes) : DataFrame ``feature, n_patients, n_events, hr_per_sd, ci_low, ci_high,
    p, fdr, significant, concordance, ph_p, ph_violated, reason`` and the same prefixed
    ``adj_`` for the adjusted model; notes on events per variable
    """
    time = clinical["time"].reindex(features.index)
    event = clinical["event"].reindex(features.index)
    design = covariate_design(clinical, covariates).reindex(features.index) if covariates else None
    rows = []
    for name in names:
        row = {"feature": name, **cox_model(features[name], time, event)}
        if design is not None:
            adjusted = cox_model(features[name], time, event, design)
            row.update({f"adj_{k}": v for k, v in adjusted.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    notes = []
    if table.empty:
        return table, notes
    for prefix in ("", "adj_") if design is not None else ("",):
        p = table[f"{prefix}p"]
        table.insert(table.columns.get_loc(f"{prefix}p") + 1, f"{prefix}fdr", fdr_bh(p))
        at = table.columns.get_loc(f"{prefix}fdr") + 1
        table.insert(at, f"{prefix}significant", below(table[f"{prefix}fdr"], fdr))
        ph = table[f"{prefix}ph_p"]
        at = table.columns.get_loc(f"{prefix}ph_p") + 1
        table.insert(at, f"{prefix}ph_violated", below(ph, PH_ALPHA))
    events = int(event.dropna().sum())
    n_vars = 1 + (design.shape[1] if design is not None else 0)
    if 0 < events < EVENTS_PER_VARIABLE * n_vars:
        notes.append(
            f"{events} event(s) for models of up to {n_vars} variable(s): fewer than "
            f"{EVENTS_PER_VARIABLE} events per variable, the Cox estimates are unstable"
        )
    if events == 0:
        notes.append("no events (every event value is 0): no Cox model or log-rank test")
    return table, notes


def kaplan_meier(
    labels: pd.Series, time: pd.Series, event: pd.Series, name: str
) -> tuple[pd.DataFrame, dict]:
    """Kaplan-Meier curves of patient groups and their log-rank test.

    Parameters
    ----------
    labels : patient -> group label (NaN: left out)
    time, event : patient -> survival time, event (1/0)
    name : what the groups are (e.g. ``phenotype_call``), the ``split`` column

    Returns
    -------
    curves : DataFrame ``split, group, time, survival, ci_low, ci_high, at_risk`` (a step
        function: survival from ``time`` on; the first row of each group is time 0)
    test : dict ``split, groups, n_patients, n_events, logrank_statistic, logrank_p, reason``
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    data = pd.DataFrame({"label": labels, "time": time, "event": event}).dropna()
    data["label"] = data["label"].astype(str)
    sizes = data["label"].value_counts()
    small = sorted(sizes.index[sizes < MIN_GROUP])
    data = data[~data["label"].isin(small)]
    levels = sorted(data["label"].unique())
    test = {
        "split": name,
        "groups": ", ".join(f"{g} ({(data['label'] == g).sum()})" for g in levels),
        "n_patients": len(data),
        "n_events": int(data["event"].sum()),
        "logrank_statistic": np.nan,
        "logrank_p": np.nan,
        "reason": "",
    }
    curves = []
    for level in levels:
        part = data[data["label"] == level]
        kmf = KaplanMeierFitter().fit(part["time"], part["event"], label=level)
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        at_risk = kmf.event_table["at_risk"].reindex(sf.index)
        curves.append(
            pd.DataFrame(
                {
                    "split": name,
                    "group": level,
                    "time": sf.index.to_numpy(dtype=float),
                    "survival": sf.to_numpy(),
                    "ci_low": ci.iloc[:, 0].to_numpy(),
                    "ci_high": ci.iloc[:, 1].to_numpy(),
                    "at_risk": at_risk.to_numpy(),
                }
            )
        )
    if len(levels) < 2:
        test["reason"] = f"fewer than 2 groups of {MIN_GROUP} patients ({test['groups'] or 'none'})"
    elif test["n_events"] == 0:
        test["reason"] = "no events (every event value is 0)"
    else:
        result = multivariate_logrank_test(data["time"], data["label"], data["event"])
        test.update(logrank_statistic=float(result.test_statistic), logrank_p=float(result.p_value))
    if small:
        left = ", ".join(f"{g} ({sizes[g]})" for g in small)
        test["reason"] = "; ".join(
            r for r in (test["reason"], f"groups of fewer than {MIN_GROUP} left out: {left}") if r
        )
    columns = ["split", "group", "time", "survival", "ci_low", "ci_high", "at_risk"]
    table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=columns)
    return table[columns], test


def median_split(values: pd.Series) -> pd.Series:
    """``high`` above the median, ``low`` at or below it (NaN stays NaN)."""
    median = values.median()
    return values.gt(median).map({True: "high", False: "low"}).where(values.notna())
