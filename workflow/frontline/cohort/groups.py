"""Features compared between groups of patients (e.g. responders and non-responders).

Per feature, over the patients with a value and a group:

- two groups: Mann-Whitney U (two-sided, ``scipy.stats.mannwhitneyu``); effect size the
  rank-biserial correlation r = 2 AUC - 1, where AUC = P(X_b > X_a) + P(X_b = X_a) / 2 for
  group b (the second in sorted order) against group a: r > 0 means higher values in b. Its
  95 % interval is Wald's from DeLong's variance of the AUC (placement values), clipped to
  [-1, 1];
- more groups: Kruskal-Wallis H (``scipy.stats.kruskal``); effect size epsilon² = H / (n - 1)
  (Tomczak & Tomczak 2014), its 95 % interval from a seeded bootstrap that resamples patients
  within each group (``cohort.bootstrap`` resamples, ``cohort.seed``);
- Benjamini-Hochberg FDR over the features tested (``statsmodels``); ``significant`` where it
  is below ``cohort.fdr``;
- images nested in patients: a linear mixed model of the per-image feature (z-scored over the
  images) on the group with a random intercept per patient (``statsmodels`` MixedLM, maximum
  likelihood), its p from the likelihood-ratio test against the model without the group, the
  coefficient (two groups: group b - group a, in image-level SDs) with its Wald 95 % interval;
  FDR over the features it was computable for. It needs a patient with two images.

A group with fewer than two patients is left out of the comparison, with a note; a feature
with fewer than two groups left, or the same value everywhere, is not computable (NaN, with
its reason).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

log = logging.getLogger(__name__)
MIN_GROUP = 2  # patients a group needs to take part in a comparison
Z95 = float(stats.norm.ppf(0.975))


def fdr_bh(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q); NaN stays NaN and is not counted."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q


def below(q: pd.Series, fdr: float) -> pd.Series:
    """``q < fdr`` as True / False, and missing (None) where q is NaN (nothing was tested)."""
    return (q < fdr).astype(object).where(q.notna(), None)


def rank_biserial(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Rank-biserial correlation of b against a and its 95 % interval (DeLong, clipped).

    Parameters
    ----------
    a, b : (n_a,), (n_b,) float, the values of the two groups

    Returns
    -------
    (r, low, high) : r = 2 AUC - 1 in [-1, 1]
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    psi = (b[:, None] > a[None, :]) + 0.5 * (b[:, None] == a[None, :])
    auc = float(psi.mean())
    var = np.var(psi.mean(axis=1), ddof=1) / len(b) + np.var(psi.mean(axis=0), ddof=1) / len(a)
    half = Z95 * 2.0 * float(np.sqrt(var))
    r = 2.0 * auc - 1.0
    return r, max(-1.0, r - half), min(1.0, r + half)


def epsilon_squared(samples: Sequence[np.ndarray]) -> float:
    """Kruskal-Wallis effect size epsilon² = H / (n - 1), in [0, 1]."""
    n = sum(len(s) for s in samples)
    return float(stats.kruskal(*samples).statistic) / (n - 1)


def epsilon_squared_ci(
    samples: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile 95 % interval of epsilon² from resampling each group with replacement."""
    if n_boot <= 0:
        return np.nan, np.nan
    values = []
    for _ in range(n_boot):
        drawn = [rng.choice(s, size=len(s), replace=True) for s in samples]
        if len(np.unique(np.concatenate(drawn))) > 1:
            values.append(epsilon_squared(drawn))
    if not values:
        return 0.0, 0.0
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _groups_of(values: pd.Series, groups: pd.Series) -> tuple[list[str], list[np.ndarray], str]:
    """The groups with at least MIN_GROUP patients having a value, and what was left out."""
    both = pd.DataFrame({"value": values, "group": groups}).dropna()
    names, samples, small = [], [], []
    for name, part in sorted(both.groupby("group")["value"], key=lambda kv: str(kv[0])):
        if len(part) >= MIN_GROUP:
            names.append(str(name))
            samples.append(part.to_numpy(dtype=float))
        else:
            small.append(f"{name} ({len(part)})")
    left_out = f"group(s) with fewer than {MIN_GROUP} patients left out: {', '.join(small)}"
    return names, samples, left_out if small else ""


def group_tests(
    features: pd.DataFrame,
    groups: pd.Series,
    names: Sequence[str],
    fdr: float,
    n_boot: int,
    seed: int,
) -> pd.DataFrame:
    """Patient-level comparison of each feature between the groups.

    Parameters
    ----------
    features : one row per patient, indexed by patient
    groups : patient -> group name (NaN: no group; those patients drop out)
    names : the feature columns to test
    fdr : the false discovery rate at which ``significant`` is set
    n_boot, seed : the bootstrap of the Kruskal-Wallis effect size

    Returns
    -------
    DataFrame ``feature, test, groups, n_patients, median_<group>..., statistic, p, fdr,
    effect, effect_value, ci_low, ci_high, significant, computable, reason``
    """
    rng = np.random.default_rng(seed)
    groups = groups.reindex(features.index)
    all_groups = sorted({str(g) for g in groups.dropna()})
    rows = []
    for name in names:
        groups_here, samples, left_out = _groups_of(features[name], groups)
        row = {"feature": name, "groups": ", ".join(groups_here)}
        row["n_patients"] = int(sum(len(s) for s in samples))
        for g in all_groups:
            row[f"median_{g}"] = (
                float(np.median(samples[groups_here.index(g)])) if g in groups_here else np.nan
            )
        reason = ""
        if len(samples) < 2:
            reason = f"fewer than 2 groups with {MIN_GROUP} patients having a value"
        elif len(np.unique(np.concatenate(samples))) < 2:
            reason = "the same value for every patient"
        if reason:
            row.update(test="", statistic=np.nan, p=np.nan, effect="", effect_value=np.nan)
            row.update(ci_low=np.nan, ci_high=np.nan)
        elif len(samples) == 2:
            test = stats.mannwhitneyu(samples[1], samples[0], alternative="two-sided")
            r, low, high = rank_biserial(samples[0], samples[1])
            row.update(test="mann_whitney_u", statistic=float(test.statistic), p=float(test.pvalue))
            row.update(effect="rank_biserial", effect_value=r, ci_low=low, ci_high=high)
        else:
            test = stats.kruskal(*samples)
            low, high = epsilon_squared_ci(samples, n_boot, rng)
            row.update(test="kruskal_wallis", statistic=float(test.statistic), p=float(test.pvalue))
            row.update(effect="epsilon_squared", effect_value=epsilon_squared(samples))
            row.update(ci_low=low, ci_high=high)
        row.update(computable=not reason, reason="; ".join(r for r in (reason, left_out) if r))
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table.insert(table.columns.get_loc("p") + 1, "fdr", fdr_bh(table["p"]))
    table.insert(table.columns.get_loc("ci_high") + 1, "significant", below(table["fdr"], fdr))
    return table


def mixed_model_tests(
    images: pd.DataFrame, groups: pd.Series, names: Sequence[str], fdr: float
) -> pd.DataFrame:
    """Per-image features against the group, images nested in patients (random intercept).

    Parameters
    ----------
    images : one row per image with a ``patient`` column and the feature columns
    groups : patient -> group (NaN: dropped)
    names : the feature columns
    fdr : the false discovery rate of ``mixed_significant``

    Returns
    -------
    DataFrame ``feature, mixed_n_images, mixed_n_patients, mixed_coef, mixed_ci_low,
    mixed_ci_high, mixed_p, mixed_fdr, mixed_significant, mixed_reason``
    """
    rows = []
    for name in names:
        rows.append({"feature": name, **_mixed_model(images, groups, name)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table.insert(table.columns.get_loc("mixed_p") + 1, "mixed_fdr", fdr_bh(table["mixed_p"]))
    table.insert(
        table.columns.get_loc("mixed_fdr") + 1, "mixed_significant", below(table["mixed_fdr"], fdr)
    )
    return table


def _mixed_model(images: pd.DataFrame, groups: pd.Series, name: str) -> dict:
    from statsmodels.regression.mixed_linear_model import MixedLM

    data = pd.DataFrame(
        {
            "value": images[name].to_numpy(dtype=float),
            "patient": images["patient"].astype(str).to_numpy(),
            "group": groups.reindex(images["patient"].astype(str)).to_numpy(),
        }
    ).dropna()
    per_group = data.groupby("group")["patient"].nunique()
    keep = per_group.index[per_group >= MIN_GROUP]
    data = data[data["group"].isin(keep)]
    out = {
        "mixed_n_images": len(data),
        "mixed_n_patients": int(data["patient"].nunique()),
        "mixed_coef": np.nan,
        "mixed_ci_low": np.nan,
        "mixed_ci_high": np.nan,
        "mixed_p": np.nan,
        "mixed_reason": "",
    }
    levels = sorted(data["group"].astype(str).unique())
    if len(levels) < 2:
        out["mixed_reason"] = f"fewer than 2 groups with {MIN_GROUP} patients having a value"
        return out
    if not (data.groupby("patient").size() > 1).any():
        out["mixed_reason"] = "one image per patient (the patient-level test is the test)"
        return out
    sd = data["value"].std(ddof=1)
    if not sd > 0:
        out["mixed_reason"] = "the same value in every image"
        return out
    y = ((data["value"] - data["value"].mean()) / sd).to_numpy()
    dummies = np.column_stack(
        [(data["group"].astype(str) == g).to_numpy(float) for g in levels[1:]]
    )
    full = np.column_stack([np.ones(len(y)), dummies])
    null = np.ones((len(y), 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = MixedLM(y, full, groups=data["patient"].to_numpy()).fit(reml=False)
            fit0 = MixedLM(y, null, groups=data["patient"].to_numpy()).fit(reml=False)
        except (np.linalg.LinAlgError, ValueError) as err:
            out["mixed_reason"] = f"the mixed model did not fit ({err})"
            return out
    lr = max(0.0, 2.0 * (fit.llf - fit0.llf))
    out["mixed_p"] = float(stats.chi2.sf(lr, df=len(levels) - 1))
    if len(levels) == 2:
        ci = np.asarray(fit.conf_int())[1]
        out.update(mixed_coef=float(fit.fe_params[1]), mixed_ci_low=ci[0], mixed_ci_high=ci[1])
    trouble = sorted({str(w.message).split("\n")[0][:120] for w in caught if _convergence(w)})
    if trouble:
        out["mixed_reason"] = "fit warning: " + "; ".join(trouble)
    return out


def _convergence(caught: warnings.WarningMessage) -> bool:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    return issubclass(caught.category, ConvergenceWarning)
