"""The Vectra lung cohort through the library: 247 fields -> front, spatial, cohort statistics.

Reads ``../shared/data/vectra_lung_cohort/lung_cells.csv.gz`` (one row per cell, 50 patients x
4-5 fields), takes each field (``patientImage_id``) as one sample with its patient, names the
cells from the table's own per-marker calls (CK+ tumor, CD8+ CD8_T, CD4+ T_helper, CD19+
B_cell, CD14+ monocyte, else other: the calls are exclusive), traces the front and runs the
spatial step on each field (the config's defaults; no L-function envelope: the cohort reads
none of it), then the cohort features and statistics with the settings of
``config/examples/vectra_lung_cohort.yaml``. Writes the cohort tables and figures to
``--out`` and, with ``--km``, the Kaplan-Meier figure README.md shows; prints the README's
table of the strongest associations.

The workflow does the same with ``--configfile config/examples/vectra_lung_cohort.yaml`` (each
field a cell-table sample of the one table, with its patient); ``tests/unit/test_cohort_lung.py``
runs :func:`run` and checks the numbers README.md quotes.

Usage (``FRONTLINE_SHARED_DATA`` names the data folder when it is not ``../shared/data``)::

    python bench/lung_cohort.py --out bench/out/lung_cohort --km docs/lung_cohort_km.png
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from frontline import cohort, config, front, io, plots, spatial  # noqa: E402
from frontline.celltables import field_extent_um  # noqa: E402

SHARED_DATA = Path(os.environ.get("FRONTLINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
TABLE = SHARED_DATA / "vectra_lung_cohort" / "lung_cells.csv.gz"
EXAMPLE = ROOT / "config" / "examples" / "vectra_lung_cohort.yaml"
CALLS = {  # the table's exclusive per-marker calls -> phenotype names
    "phenotype_ck": "tumor",
    "phenotype_cd8": "CD8_T",
    "phenotype_cd4": "T_helper",
    "phenotype_cd19": "B_cell",
    "phenotype_cd14": "monocyte",
}
IMMUNE = ["CD8_T", "T_helper", "B_cell", "monocyte"]


def settings(**overrides):
    """The example's ``cohort:`` section, schema defaults filled (``clinical``: the table)."""
    given = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["cohort"]
    given.update(clinical=str(TABLE), **overrides)
    return config.section("cohort", **given)


def field_outputs(cells, params):
    """(sample, patient, SampleOutputs) of each field, in the table's order."""
    front_settings = config.section("front")
    for field_id, field in cells.groupby("patientImage_id", sort=False):
        field = field.reset_index(drop=True)
        extent = field_extent_um(field[["x_um", "y_um"]].to_numpy())  # as the workflow's
        regions = front.find_regions(field, extent, front_settings, sample=field_id)
        result = spatial.analyze(field, regions, params, immune_lineage=IMMUNE, sample=field_id)
        yield field_id, str(field_id).split("_")[0], cohort.SampleOutputs.from_result(result)


def lung_cells(path=TABLE):
    """The cell table with ``cell_id, x_um, y_um, phenotype`` per field."""
    table = pd.read_csv(path, usecols=["patientImage_id", "x", "y", *CALLS])
    phenotype = np.full(len(table), "other", dtype=object)
    for column, name in CALLS.items():
        phenotype[table[column].str.endswith("+").to_numpy()] = name
    return pd.DataFrame(
        {
            "patientImage_id": table["patientImage_id"],
            "cell_id": table.groupby("patientImage_id").cumcount() + 1,
            "x_um": table["x"].astype(float),
            "y_um": table["y"].astype(float),
            "phenotype": phenotype.astype(str),
        }
    )


def run(path=TABLE, **cohort_overrides):
    """Features and statistics of the lung cohort: (CohortFeatures, Statistics, seconds)."""
    t0 = time.perf_counter()
    params = spatial.Params.from_config(
        {"immune_types": IMMUNE, "permutations": 0}, call={"phenotype": "CD8_T"}
    )
    samples = list(field_outputs(lung_cells(path), params))
    patients = {s: p for s, p, _ in samples}
    features = cohort.cohort_features(((s, out) for s, _, out in samples), patients, params, IMMUNE)
    section = settings(**cohort_overrides)
    raw = io.read_text_table(path, columns=cohort.clinical_columns(section))
    clinical = cohort.check_clinical(raw, patients.values(), section, file=str(path))
    stats = cohort.cohort_statistics(
        features.patients.table, features.images.table, clinical, section
    )
    return features, stats, time.perf_counter() - t0


def strongest(stats, n=6):
    """The README's table: the features with the smallest univariable Cox p."""
    s = stats.survival.nsmallest(n, "p")
    g = stats.group_tests.set_index("feature")
    rows = [
        "| feature | HR per SD (95 % CI) | p | FDR | adjusted HR (age, stage) | C "
        "| stage: Kruskal-Wallis p (FDR) |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in s.iterrows():
        rows.append(
            f"| `{r['feature']}` | {r['hr_per_sd']:.2f} ({r['ci_low']:.2f}-{r['ci_high']:.2f}) | "
            f"{r['p']:.3f} | {r['fdr']:.2f} | {r['adj_hr_per_sd']:.2f} "
            f"({r['adj_ci_low']:.2f}-{r['adj_ci_high']:.2f}), p {r['adj_p']:.3f} | "
            f"{r['concordance']:.2f} | {g.at[r['feature'], 'p']:.2f} "
            f"({g.at[r['feature'], 'fdr']:.2f}) |"
        )
    return "\n".join(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "lung_cohort")
    parser.add_argument("--km", type=Path, help="also write the Kaplan-Meier figure here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    features, stats, seconds = run()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, table in features.tables().items():
        io.write_tsv(table, args.out / f"{name}.tsv")
    for name in ("group_tests", "survival", "km_curves", "km_tests", "notes"):
        io.write_tsv(getattr(stats, name), args.out / f"{name}.tsv")
    figures = plots.outcome_figures(stats, "days (survival_days)")
    for name, fig in figures.items():
        io.save_figure(fig, args.out / f"{name}.png", dpi=110)
    if args.km:
        io.save_figure(figures["km"], args.km, dpi=90)
    print(
        f"{len(features.images.table)} fields, {len(features.patients.table)} patients, "
        f"{seconds:.0f} s"
    )
    print(strongest(stats))
    print(stats.km_tests[["split", "groups", "logrank_p", "reason"]].to_string(index=False))
    print(stats.notes.to_string(index=False))


if __name__ == "__main__":
    main()
