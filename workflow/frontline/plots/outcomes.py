"""The cohort's outcome figures: group effect sizes, hazard ratios, Kaplan-Meier curves.

Each takes the tables of :func:`frontline.cohort.cohort_statistics` and returns a Figure; a
table without a computable row gives a figure that says why, so the report always has one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from ..colours import CALL_COLOURS

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
SIGNIFICANT, OTHER = "#c0392b", "#34495e"
MAX_ROWS = 40  # forest plots show at most this many features (the smallest p first)


def _message(title: str, text: str) -> Figure:
    fig = Figure(figsize=(7.0, 2.2), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    fig.suptitle(title, fontsize=12)
    return fig


def _forest(ax, table, value, low, high, significant, label, log_scale, null):
    shown = table.iloc[::-1]
    y = np.arange(len(shown))
    sig = shown[significant].eq(True).to_numpy()
    for mask, colour, name in ((~sig, OTHER, "not significant"), (sig, SIGNIFICANT, label)):
        if not mask.any():
            continue
        v, lo, hi = (shown[c].to_numpy(dtype=float)[mask] for c in (value, low, high))
        ax.errorbar(
            v,
            y[mask],
            xerr=[np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)],
            fmt="o",
            color=colour,
            ms=4.5,
            capsize=2.5,
            lw=1.1,
            label=name,
        )
    ax.axvline(null, color="0.5", lw=0.8, ls="--")
    if log_scale:
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        ticks = [t for t in (0.1, 0.2, 0.33, 0.5, 0.67, 1, 1.5, 2, 3, 5, 10) if lo <= t <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_yticks(y)
    ax.set_yticklabels(shown["feature"], fontsize=7.5)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7.5, frameon=False)


def group_effects_figure(
    tests: pd.DataFrame, fdr: float, group_column: str | None = None
) -> Figure:
    """Effect size of each feature between the groups, with its 95 % interval.

    Parameters
    ----------
    tests : ``group_tests.tsv`` (:func:`frontline.cohort.group_tests` columns)
    fdr : the FDR threshold of ``significant`` (named in the legend)
    group_column : the clinical column of the groups (for the title)

    Returns
    -------
    matplotlib.figure.Figure (features with the smallest p on top; at most :data:`MAX_ROWS`)
    """
    title = f"Features by {group_column or 'group'}: effect sizes (patient level)"
    if tests.empty or "computable" not in tests or not tests["computable"].any():
        reason = "" if tests.empty or "reason" not in tests else f": {tests['reason'].iloc[0]}"
        return _message(title, f"no group test was computable{reason}")
    shown = tests[tests["computable"].astype(bool)].nsmallest(MAX_ROWS, "p")
    effect = str(shown["effect"].iloc[0])
    two = effect == "rank_biserial"
    fig = Figure(figsize=(7.5, 1.4 + 0.24 * len(shown)), layout="constrained")
    ax = fig.subplots()
    _forest(
        ax,
        shown,
        "effect_value",
        "ci_low",
        "ci_high",
        "significant",
        f"FDR < {fdr:g}",
        log_scale=False,
        null=0.0,
    )
    groups = str(shown["groups"].iloc[0]).split(", ")
    if two:
        ax.set_xlabel(f"rank-biserial r ({groups[1]} vs {groups[0]}; > 0: higher in {groups[1]})")
        ax.set_xlim(-1.05, 1.05)
    else:
        ax.set_xlabel(f"epsilon² (Kruskal-Wallis over {', '.join(groups)})")
        ax.set_xlim(left=0)
    fig.suptitle(title + ", 95 % intervals", fontsize=11)
    return fig


def hazard_ratio_figure(survival: pd.DataFrame, fdr: float) -> Figure:
    """Hazard ratio per SD of each feature (univariable; adjusted beside it when modelled).

    Parameters
    ----------
    survival : ``survival.tsv`` (:func:`frontline.cohort.survival_tests` columns)
    fdr : the FDR threshold of ``significant``

    Returns
    -------
    matplotlib.figure.Figure (log-scale hazard ratios, smallest p on top)
    """
    title = "Survival: hazard ratio per SD of each feature (Cox, 95 % intervals)"
    if survival.empty or "p" not in survival or survival["p"].notna().sum() == 0:
        reason = "" if survival.empty else f": {survival['reason'].iloc[0]}"
        return _message(title, f"no Cox model was computable{reason}")
    shown = survival[survival["p"].notna()].nsmallest(MAX_ROWS, "p")
    panels = [("", "univariable")]
    if "adj_p" in shown and shown["adj_p"].notna().any():
        panels.append(("adj_", "adjusted for the covariates"))
    fig = Figure(figsize=(5.0 * len(panels) + 2.5, 1.4 + 0.24 * len(shown)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)).ravel()
    for ax, (prefix, name) in zip(axes, panels):
        _forest(
            ax,
            shown.assign(feature=shown["feature"]),
            f"{prefix}hr_per_sd",
            f"{prefix}ci_low",
            f"{prefix}ci_high",
            f"{prefix}significant",
            f"FDR < {fdr:g}",
            log_scale=True,
            null=1.0,
        )
        ax.set_xlabel("hazard ratio per SD (< 1: higher values, lower hazard)")
        ax.set_title(name, fontsize=10)
    fig.suptitle(title, fontsize=11)
    return fig


def km_figure(curves: pd.DataFrame, tests: pd.DataFrame, time_label: str = "time") -> Figure:
    """Kaplan-Meier curves, one panel per split, with the log-rank p in each title.

    Parameters
    ----------
    curves : ``km_curves.tsv`` (``split, group, time, survival, ci_low, ci_high, at_risk``)
    tests : one row per split (``split, groups, logrank_p, reason``)
    time_label : the x axis (the survival time column and its unit)

    Returns
    -------
    matplotlib.figure.Figure
    """
    title = "Kaplan-Meier survival"
    if curves.empty or tests.empty:
        return _message(title, "no Kaplan-Meier curve (no survival columns, or no patients)")
    splits = list(tests["split"])
    ncols = min(2, len(splits))
    nrows = int(np.ceil(len(splits) / ncols))
    fig = Figure(figsize=(5.6 * ncols, 3.9 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, (_, test) in zip(axes, tests.iterrows()):
        part = curves[curves["split"] == test["split"]]
        for j, (group, g) in enumerate(part.groupby("group", sort=True)):
            colour = CALL_COLOURS.get(group, f"C{j}")
            n = int(g["at_risk"].iloc[0]) if len(g) else 0
            ax.step(
                g["time"],
                g["survival"],
                where="post",
                color=colour,
                lw=1.6,
                label=f"{group} (n={n})",
            )
            ax.fill_between(
                g["time"], g["ci_low"], g["ci_high"], step="post", color=colour, alpha=0.15, lw=0
            )
        p = test["logrank_p"]
        said = f"log-rank p = {p:.3g}" if np.isfinite(p) else str(test["reason"])
        ax.set_title(f"{test['split']}\n{said}", fontsize=9.5)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(time_label)
        ax.set_ylabel("survival probability")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="lower left")
    for ax in axes[len(splits) :]:
        ax.set_visible(False)
    fig.suptitle(title + " (shaded: 95 % intervals)", fontsize=11)
    return fig


def outcome_figures(stats, time_label: str = "time") -> dict[str, Figure]:
    """The three outcome figures of a :class:`frontline.cohort.Statistics`, by output name."""
    return {
        "group_effects": group_effects_figure(stats.group_tests, stats.fdr, stats.group_column),
        "hazard_ratios": hazard_ratio_figure(stats.survival, stats.fdr),
        "km": km_figure(stats.km_curves, stats.km_tests, time_label),
    }
