"""Rule cohort_statistics: features + clinical table -> group tests, survival, KM, figures."""

import pandas as pd

from frontline import cohort, io, plots
from frontline.step import run


def main(smk):
    p, inp, out = smk.params, smk.input, smk.output
    raw = io.read_text_table(
        inp.clinical,
        columns=cohort.clinical_columns(p.cohort),
        what="the clinical table (config `cohort.clinical`)",
    )
    clinical = cohort.check_clinical(raw, p.patients, p.cohort, file=inp.clinical)
    patients = pd.read_csv(inp.features, sep="\t", dtype={"patient": str})
    images = pd.read_csv(inp.images, sep="\t", dtype={"sample": str, "patient": str})
    stats = cohort.cohort_statistics(patients, images, clinical, p.cohort)
    for name in ("group_tests", "survival", "km_curves", "km_tests", "notes"):
        io.write_tsv(getattr(stats, name), out[name])
    time_label = p.cohort["survival"]["time"] or "time"
    for name, fig in plots.outcome_figures(stats, time_label).items():
        io.save_figure(fig, out[f"{name}_png"], dpi=p.dpi)


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
