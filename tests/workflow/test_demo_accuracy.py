"""The README demo, run whole as shipped (three 1 x 1 mm samples, the shipped nuclei model),
meets every accuracy target against the simulator's truth in its evaluation.json files:
segmentation F1, tumor-vs-immune accuracy and macro-F1, the signed distance to the invasive
front, the density profile in distance bands, and the immune phenotype call.
"""

import json

import pandas as pd
import pytest
from runs import default_config, make_workdir, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The default config and sheet, run with ``--cores 2``: {sample: evaluation dict}."""
    shipped = default_config()
    work = tmp_path_factory.mktemp("readme_demo")
    rows = [
        {
            "sample": name,
            "image": f"results/simulated/{name}.ome.tif",
            "truth": f"results/simulated/{name}",
        }
        for name in shipped["simulate"]["samples"]
    ]
    make_workdir(work, rows=rows, overrides={"simulate": shipped["simulate"]})
    snakemake(work, cores=2, timeout_s=1100, check=True)
    results = work / "results"
    out = {
        row["sample"]: json.loads((results / row["sample"] / "evaluation.json").read_text())
        for row in rows
    }
    out["_cohort"] = pd.read_csv(results / "cohort" / "summary.tsv", sep="\t")
    return out


SAMPLES = ["demo_inflamed", "demo_excluded", "demo_desert"]


@pytest.mark.parametrize("sample", SAMPLES)
def test_segmentation_and_phenotypes_meet_targets(demo, sample):
    result = demo[sample]
    assert result["segmentation"]["f1"] >= 0.95, result["segmentation"]
    assert result["phenotype"]["tumor_vs_immune_accuracy"] >= 0.97, result["phenotype"]
    assert result["phenotype"]["macro_f1"] >= 0.90, result["phenotype"]


@pytest.mark.parametrize("sample", SAMPLES)
def test_distances_bands_and_call_meet_targets(demo, sample):
    spatial = demo[sample]["spatial"]
    assert spatial["dist_n_cells"] >= 1500, spatial
    assert spatial["dist_median_abs_error_um"] <= 5.0, spatial
    assert spatial["density_bands_compared"] >= 4, spatial
    assert spatial["density_bands_within_tolerance"] == spatial["density_bands_compared"], spatial[
        "density_worst_bands"
    ]
    assert spatial["call"] == spatial["truth_call"] == sample.removeprefix("demo_")


def test_cohort_table_has_one_row_per_sample_with_its_call(demo):
    cohort = demo["_cohort"].set_index("sample")
    assert sorted(cohort.index) == sorted(SAMPLES)
    for sample in SAMPLES:
        assert cohort.loc[sample, "phenotype_call"] == sample.removeprefix("demo_")
