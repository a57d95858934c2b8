"""The simulated fields made like real breast carcinoma (``nests``, ``septa``, ``tma_core``,
``compartmentalized``, ``mixed``; frontline.simulate.presets), each run through the whole image
workflow (simulate, segment, measure, phenotype, front, spatial, evaluate) with the shipped
nuclei model: the signed distance to the front within 6 µm of the truth (median over the cells
within 300 µm of the true front) and the immune call the field's pattern shows.

Only the evaluation is built (no report figures), one 1 x 1 mm field per type, to keep the run
short; the same fields from the truth cells are checked in tests/unit/test_spatial_step.py.

The ``septa`` field is 86 % tumor cells: there the automatic PanCK gate finds no negative
population (method ``negative_tail``, 21 of 3,759 tumor cells positive, so no tumor region),
so that sample is given its PanCK gate in a gates table (the sheet's ``gates`` column), as a
user would after looking at its gating plot. The other gates stay automatic.
"""

import json

import pytest
from runs import make_workdir, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

FIELDS = {"nests": 1, "septa": 1, "tma_core": 1, "compartmentalized": 1, "mixed": 1}
# PanCK ring median between the simulator's stromal and tumor cells (the nests field's auto
# gate: 259)
SEPTA_GATES = "marker\tgate\nPanCK\t260\n"


@pytest.fixture(scope="module")
def fields(tmp_path_factory):
    """{field type: (evaluation.json, summary.json, expected call)} of one run over the five
    fields."""
    from frontline.simulate import PRESET_TABLE

    work = tmp_path_factory.mktemp("fields")
    names = {f"field_{preset}": preset for preset in FIELDS}
    (work / "septa_gates.tsv").write_text(SEPTA_GATES, encoding="utf-8")
    rows = [
        {
            "sample": name,
            "image": f"results/simulated/{name}.ome.tif",
            "truth": f"results/simulated/{name}",
            "gates": "septa_gates.tsv" if preset == "septa" else "",
        }
        for name, preset in names.items()
    ]
    samples = {name: {"preset": preset, "seed": FIELDS[preset]} for name, preset in names.items()}
    make_workdir(
        work,
        rows=rows,
        columns=("sample", "image", "truth", "gates"),
        overrides={
            "simulate": {"shape_px": [2048, 2048], "samples": samples},
            "spatial": {"permutations": 0},
        },
    )
    targets = [f"results/{name}/evaluation.json" for name in names]
    snakemake(work, *targets, cores=2, timeout_s=1400, check=True)
    out = {}
    for name, preset in names.items():
        folder = work / "results" / name
        out[preset] = (
            json.loads((folder / "evaluation.json").read_text()),
            json.loads((folder / "summary.json").read_text()),
            PRESET_TABLE[preset].call,
        )
    return out


@pytest.mark.parametrize("preset", sorted(FIELDS))
def test_each_field_type_within_6_um_and_called_right_through_the_workflow(fields, preset):
    evaluation, summary, expected = fields[preset]
    spatial = evaluation["spatial"]
    assert spatial["dist_n_cells"] >= 1000, spatial
    assert spatial["dist_median_abs_error_um"] <= 6.0, spatial
    assert spatial["truth_call"] == expected
    assert summary["phenotype_call"] == expected, summary["phenotype_call_reason"]
    assert evaluation["segmentation"]["f1"] >= 0.90, evaluation["segmentation"]
