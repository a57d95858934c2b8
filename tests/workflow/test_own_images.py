"""Your own images, as README.md's "Running on your own images" says, on a three-channel panel.

Two runs on a simulated 384 x 384 µm field with three of the simulator's channels, renamed:

- ``readme_run`` follows README's steps literally (channels "Hoechst", "KRT8_18", "CD8a"): the
  template config/examples/small_panel.yaml, a sample sheet, ``python -m frontline.io`` for the
  channel names, a dry run, the run. Its console is captured with TensorFlow's own logging on.
- ``minimal_run`` runs the issue's minimal config exactly as written (channels "DAPI",
  "CK_EPCAM", "CD8a") on two samples, then gives one of them its own gates table.

Both working folders hold the demo's config/config.yaml too: none of it may leak into a run
given ``--configfile``.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from runs import ROOT, code_env, code_root, planned_jobs, snakemake, tree_hashes

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SHAPE_PX = (768, 768)  # 0.5 µm per pixel: a tumour with a front, ~120 tumour and ~35 CD8 cells
PRESET, SEED = "inflamed", 7
SOURCE = ("DAPI", "PanCK", "CD8")  # the simulator's channels the panel keeps

# The minimal config, exactly as written there.
MINIMAL = """\
samples: my/samples.tsv
segmentation: {nuclear_channel: DAPI}
phenotyping:
  exclusive: [[tumor, CD8_T]]
  phenotypes:
    tumor: {positive: [CK_EPCAM]}
    CD8_T: {positive: [CD8a]}
spatial:
  immune_types: [CD8_T]
  call: {phenotype: CD8_T}
"""

# README's steps, as the test runs them (each must appear in README's section word for word).
STEPS = [
    "mkdir -p my && cp config/examples/small_panel.yaml my/config.yaml",
    "python -m frontline.io my/images/biopsy_01.ome.tif",
    "snakemake -n --cores all --configfile my/config.yaml",
    "snakemake --cores all --configfile my/config.yaml",
    "cp results/biopsy_01/gates.tsv my/gates_biopsy_01.tsv",
]
TENSORFLOW_LINES = re.compile(r"tensorflow|oneDNN|absl|cpu_feature_guard|^[IWE]0000 ", re.I | re.M)


@pytest.fixture(scope="module")
def field():
    """The simulated field: its three planes and the true cell counts per phenotype."""
    from frontline import config, front, simulate, spatial

    sim = simulate.simulate_tissue(PRESET, SHAPE_PX, 0.5, SEED)
    planes = sim.image[[sim.channels.index(c) for c in SOURCE]]
    # the call frontline's rule gives on the true cells (the field is small: its call need
    # not be the preset's)
    extent = (SHAPE_PX[1] * 0.5, SHAPE_PX[0] * 0.5)
    regions = front.find_regions(sim.cells, extent, config.section("front"))
    params = spatial.Params.from_config(
        {"immune_types": ["CD8_T"], "call": {"phenotype": "CD8_T"}, "envelope": "none"}
    )
    call = spatial.analyze(sim.cells, regions, params).summary["phenotype_call"]
    return {
        "planes": planes,
        "truth": sim.cells["phenotype"].value_counts().to_dict(),
        "call": call,
    }


def project(path):
    """A working folder laid out like the repository root: config/ (the demo's config too)."""
    shutil.copytree(code_root() / "config", path / "config")
    (path / "my" / "images").mkdir(parents=True)
    return path


def write_field(field, path, names):
    from frontline import io

    io.write_image(path, field["planes"], list(names), 0.5)


def write_sheet(path, rows):
    lines = ["\t".join(rows[0])] + ["\t".join(str(v) for v in row.values()) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def counts(work, sample):
    return json.loads((work / "results" / sample / "summary.json").read_text(encoding="utf-8"))


def close_to(found, truth, tolerance=0.25):
    return abs(found - truth) <= tolerance * truth


def test_readme_lists_the_steps_the_test_follows():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running on your own images", 1)[1].split("\n## ", 1)[0]
    for step in STEPS:
        assert f"`{step}`" in section, step


@pytest.fixture(scope="module")
def readme_run(field, tmp_path_factory):
    work = project(tmp_path_factory.mktemp("own_images") / "project")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}  # TensorFlow as chatty as it is by default
    # 1. the template
    shutil.copy(work / "config" / "examples" / "small_panel.yaml", work / "my" / "config.yaml")
    # 2. the sample sheet
    write_field(field, work / "my" / "images" / "biopsy_01.ome.tif", ("Hoechst", "KRT8_18", "CD8a"))
    write_sheet(
        work / "my" / "samples.tsv",
        [{"sample": "biopsy_01", "image": "my/images/biopsy_01.ome.tif"}],
    )
    # 3. channel names and pixel size
    shown = subprocess.run(
        [sys.executable, "-m", "frontline.io", "my/images/biopsy_01.ome.tif"],
        cwd=work,
        env=code_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    channels = re.search(r"channels: (.*)", shown).group(1).split(", ")
    # 4. the channel names into the config: nuclear, tumour, immune marker
    config = work / "my" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    for placeholder, name in zip(("DAPI", "CK_EPCAM", "CD8a"), channels):
        text = re.sub(rf"\b{placeholder}\b", name, text)
    config.write_text(text, encoding="utf-8")
    # 5. check, then run
    dry = snakemake(work, "-n", "--configfile", "my/config.yaml", env=env, timeout_s=300)
    run = snakemake(work, "--configfile", "my/config.yaml", cores=2, env=env, timeout_s=900)
    return {"dir": work, "shown": shown, "dry": dry, "run": run, "channels": channels}


def test_readme_steps_end_with_tumour_and_immune_cells_found(readme_run, field):
    assert (
        "pixel size: 0.5 µm per pixel (from the file's OME PhysicalSizeX/Y)" in readme_run["shown"]
    )
    assert readme_run["channels"] == ["Hoechst", "KRT8_18", "CD8a"]
    assert readme_run["dry"].returncode == 0, readme_run["dry"].output[-3000:]
    jobs = planned_jobs(readme_run["dry"].output)
    assert jobs.get("segment") == 1 and "simulate" not in jobs, jobs  # no demo sample leaks in
    assert readme_run["run"].returncode == 0, readme_run["run"].output[-3000:]
    work = readme_run["dir"]
    summary = counts(work, "biopsy_01")
    truth = field["truth"]
    print(
        f"\nREADME run: {summary['n_cells_tumor']} tumour (truth {truth['tumor']}), "
        f"{summary['n_cells_CD8_T']} CD8_T (truth {truth['CD8_T']}), {summary['phenotype_call']}"
    )
    assert close_to(summary["n_cells_tumor"], truth["tumor"])
    assert close_to(summary["n_cells_CD8_T"], truth["CD8_T"])
    assert summary["has_front"] and summary["phenotype_call"] == field["call"]
    gates = pd.read_csv(work / "results" / "biopsy_01" / "gates.tsv", sep="\t")
    assert list(gates["marker"]) == ["KRT8_18", "CD8a"]  # the demo's markers never leak in
    plots = sorted(p.name for p in (work / "results" / "biopsy_01" / "plots" / "gating").iterdir())
    assert plots == ["CD8a.png", "KRT8_18.png"]


def test_console_shows_no_tensorflow_line_but_the_log_has_them(readme_run):
    console = readme_run["run"].output
    assert "rule segment" in console and "Finished" in console  # Snakemake's progress
    assert not TENSORFLOW_LINES.search(console), TENSORFLOW_LINES.search(console).group(0)
    log = (readme_run["dir"] / "logs" / "segment" / "biopsy_01.log").read_text(encoding="utf-8")
    assert TENSORFLOW_LINES.search(log), "TensorFlow said nothing: the test shows nothing"


@pytest.fixture(scope="module")
def minimal_run(field, tmp_path_factory):
    work = project(tmp_path_factory.mktemp("minimal") / "project")
    write_field(field, work / "my" / "images" / "field.ome.tif", ("DAPI", "CK_EPCAM", "CD8a"))
    (work / "my" / "config.yaml").write_text(MINIMAL, encoding="utf-8")
    # s2's sheet row states a pixel size the file contradicts: the file wins, with a warning
    rows = [
        {"sample": s, "image": "my/images/field.ome.tif", "pixel_size_um": size}
        for s, size in (("s1", ""), ("s2", "0.52"))
    ]
    write_sheet(work / "my" / "samples.tsv", rows)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    run = snakemake(work, "--configfile", "my/config.yaml", cores=2, env=env, timeout_s=900)
    return {"dir": work, "run": run, "rows": rows}


def test_the_minimal_config_runs_end_to_end_as_it_is(minimal_run, field):
    assert minimal_run["run"].returncode == 0, minimal_run["run"].output[-3000:]
    for sample in ("s1", "s2"):
        summary = counts(minimal_run["dir"], sample)
        assert close_to(summary["n_cells_tumor"], field["truth"]["tumor"])
        assert close_to(summary["n_cells_CD8_T"], field["truth"]["CD8_T"])
        assert summary["phenotype_call"] == field["call"]


def test_console_shows_frontline_warnings_naming_their_sample_and_no_tensorflow(minimal_run):
    console = minimal_run["run"].output
    assert not TENSORFLOW_LINES.search(console), TENSORFLOW_LINES.search(console).group(0)
    warned = re.findall(r"^frontline WARNING \(rule (\w+), sample '(\w+)'\): (.*)$", console, re.M)
    assert {"segment", "measure", "phenotype"} <= {rule for rule, _, _ in warned}, console[-3000:]
    for _, sample, text in warned:
        assert sample == "s2" and "the file says 0.5 µm/px" in text and "sheet 0.52" in text


def test_a_gates_table_changes_only_its_sample(minimal_run):
    """README step 7: s1's gates.tsv, copied with a higher CD8a gate, named in the sheet."""
    work = minimal_run["dir"]
    res = work / "results"
    before = {s: tree_hashes(res / s) for s in ("s1", "s2")}
    cd8_before = int(pd.read_parquet(res / "s1" / "phenotypes.parquet")["CD8a_positive"].sum())
    gates = pd.read_csv(res / "s1" / "gates.tsv", sep="\t")
    gates.loc[gates["marker"] == "CD8a", "gate"] *= 2.0
    gates.to_csv(work / "my" / "gates_s1.tsv", sep="\t", index=False)  # as copied, one edit
    rows = [
        dict(row, gates="my/gates_s1.tsv" if row["sample"] == "s1" else "")
        for row in minimal_run["rows"]
    ]
    write_sheet(work / "my" / "samples.tsv", rows)

    dry = snakemake(work, "-n", "--configfile", "my/config.yaml", timeout_s=300, check=True)
    jobs = planned_jobs(dry.output)
    assert jobs == {
        "phenotype": 1,
        "front": 1,
        "spatial": 1,
        "overview_plot": 1,
        "qupath_export": 1,
        "anndata_export": 1,
        "cohort": 1,
        "cohort_features": 1,  # the patients' table, pooled over every sample
        "all": 1,
    }, jobs
    assert "wildcards: sample=s1" in dry.output and "sample=s2" not in dry.output

    snakemake(work, "--configfile", "my/config.yaml", cores=2, timeout_s=600, check=True)
    assert tree_hashes(res / "s2") == before["s2"]  # the other sample: not one byte changed
    assert tree_hashes(res / "s1") != before["s1"]
    table = pd.read_csv(res / "s1" / "gates.tsv", sep="\t").set_index("marker")
    assert set(table["method"]) == {"manual"}  # every gate of the copied table applied
    cd8_after = int(pd.read_parquet(res / "s1" / "phenotypes.parquet")["CD8a_positive"].sum())
    print(
        f"\nCD8a-positive cells of s1: {cd8_before} with the auto gate, {cd8_after} with it doubled"
    )
    assert cd8_after < cd8_before

    # editing the table again: again only s1's phenotyping and what follows would rerun
    gates.loc[gates["marker"] == "CD8a", "gate"] *= 0.75
    gates.to_csv(work / "my" / "gates_s1.tsv", sep="\t", index=False)
    again = snakemake(work, "-n", "--configfile", "my/config.yaml", timeout_s=300, check=True)
    assert planned_jobs(again.output) == jobs
    assert "sample=s2" not in again.output
