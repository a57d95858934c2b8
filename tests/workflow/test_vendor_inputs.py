"""Vendor files through the whole workflow: an Akoya QPTIFF-like and an inForm-like sample.

Given the demo image rewritten in each vendor layout (fluor-named pages, thumbnails, reduced
levels; a fluor map renames the dyes to markers), when the workflow runs to evaluation.json,
then both samples are segmented and phenotyped against the simulator's truth as well as the
demo's OME-TIFF is.
"""

import json

import numpy as np
import pandas as pd
import tifffile
from runs import make_workdir, snakemake, write_sheet
from vendor_tiffs import write_inform_components, write_qptiff

FLUORS = {
    "DAPI": "DAPI",
    "PanCK": "Opal 690",
    "CD45": "Opal 520",
    "CD3": "Opal 570",
    "CD8": "Opal 540",
    "CD68": "Opal 620",
    "CD20": "Opal 650",
    "MPO": "Opal 480",
}


def test_qptiff_and_inform_samples_run_end_to_end(demo_input, workdir):
    with tifffile.TiffFile(demo_input["image"]) as tif:
        image = tif.series[0].asarray()
        markers = [
            c.get("Name")
            for c in tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]["Channel"]
        ]
    fluors = [FLUORS[m] for m in markers]
    workdir.mkdir(parents=True)
    write_qptiff(workdir / "slide.qptiff", image, fluors, pixel_size_um=0.5, levels=2)
    components = np.concatenate(
        [image.astype(np.float32) / 100.0, np.full((1,) + image.shape[1:], 0.3, np.float32)]
    )
    write_inform_components(
        workdir / "field_component_data.tif",
        components,
        fluors + ["Autofluorescence"],
        pixel_size_um=0.5,
    )

    opal = {fluor: marker for marker, fluor in FLUORS.items() if fluor != marker}
    make_workdir(workdir, overrides={"fluor_maps": {"opal7": opal}})
    truth = str(demo_input["truth"])
    write_sheet(
        workdir / "config" / "samples.tsv",
        [
            {"sample": "akoya", "image": "slide.qptiff", "truth": truth, "fluor_map": "opal7"},
            {
                "sample": "inform",
                "image": "field_component_data.tif",
                "truth": truth,
                "fluor_map": "opal7",
            },
        ],
        columns=("sample", "image", "truth", "fluor_map"),
    )
    snakemake(
        workdir,
        "results/akoya/evaluation.json",
        "results/inform/evaluation.json",
        cores=2,
        timeout_s=900,
        check=True,
    )

    for sample in ("akoya", "inform"):
        cells = pd.read_parquet(workdir / "results" / sample / "cells.parquet")
        assert {"CD8_cell_mean", "PanCK_cell_mean", "MPO_nucleus_mean"} <= set(cells.columns)
        assert not any(c.startswith("Opal") for c in cells.columns)
        evaluation = json.loads((workdir / "results" / sample / "evaluation.json").read_text())
        assert evaluation["segmentation"]["f1"] >= 0.95, (sample, evaluation["segmentation"])
        assert evaluation["phenotype"]["tumor_vs_immune_accuracy"] >= 0.97, (
            sample,
            evaluation["phenotype"],
        )
    inform_cells = pd.read_parquet(workdir / "results" / "inform" / "cells.parquet")
    assert (
        "Autofluorescence_cell_mean" in inform_cells.columns
    )  # unmapped components keep their name
    # the same pixels in two layouts give the same nuclei
    akoya_cells = pd.read_parquet(workdir / "results" / "akoya" / "cells.parquet")
    assert abs(len(akoya_cells) - len(inform_cells)) <= 0.01 * len(akoya_cells)
