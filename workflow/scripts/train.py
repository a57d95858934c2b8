"""Train the nuclei model (rule `train`): data -> StarDist2D -> thresholds -> report."""

import json
from pathlib import Path

from frontline import train
from frontline.step import run


def main(smk):
    p, model_dir = smk.params.training, Path(smk.output.model)
    result = train.train_model(p, model_dir)
    train.write_model_metadata(model_dir, p["pixel_size_um"], result.provenance)
    (model_dir / "validation_split.json").write_text(json.dumps(result.split, indent=1) + "\n")
    Path(smk.output.metrics).write_text(json.dumps(result.metrics, indent=1) + "\n")
    train.report_figures(
        result.history,
        result.examples,
        result.predictions,
        smk.output.loss_plot,
        smk.output.examples_plot,
    )


run(snakemake, main)  # noqa: F821 (snakemake is injected by the script directive)
