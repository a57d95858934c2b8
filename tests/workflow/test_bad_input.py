"""Bad input: every case stops with a non-zero exit, one paragraph naming the sample, the file,
the problem and the fix, and no partial outputs under results/.

Config and sample-sheet problems (and what the input images' metadata shows) stop the run
at startup, before any job; problems only the pixels reveal stop the rule that reads them.
README.md's "Troubleshooting" table lists the same cases.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import tifffile
from runs import DEMO_SAMPLE, ODD_SAMPLE, demo_rows, make_workdir, result_fingerprint, snakemake

pytestmark = pytest.mark.timeout(600)

CONFIG = "config/config.yaml"
SHEET = "config/samples.tsv"


@dataclass
class Case:
    """One bad input: how to make it, and what the message must say."""

    id: str
    problem: str  # substring of the problem sentence
    file: str = None  # substring of the file the message names
    sample: str = None  # the sample the message names, if any
    overrides: dict = field(default_factory=dict)  # merged into the demo config
    rows: callable = None  # (demo, images) -> sample sheet rows
    sheet_text: object = None  # exact sheet content (str or bytes)
    prepare: callable = None  # (workdir) -> None, after the folder is made
    at_startup: bool = True  # no job may start


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory, demo_input):
    """Broken variants of the demo image, made once: {name: path}."""
    from frontline.io import open_image

    folder = tmp_path_factory.mktemp("bad images")
    with open_image(demo_input["image"]) as img:
        channels = list(img.channels)
        pixels = img.read_channels(channels, window=(0, 256, 0, 256))
    out = {}
    out["corrupt"] = folder / "corrupt.ome.tif"
    out["corrupt"].write_bytes(b"II*\x00" + bytes(range(256)) * 64)  # TIFF magic, then noise

    out["rgb"] = folder / "brightfield.tif"
    tifffile.imwrite(
        out["rgb"],
        np.zeros((256, 256, 3), np.uint8),
        photometric="rgb",
        resolution=(2.0, 2.0),
        resolutionunit="CENTIMETER",
    )

    out["no_pixel_size"] = folder / "no pixel size"  # a folder of plain single-channel TIFFs
    out["no_pixel_size"].mkdir()
    for name, plane in zip(channels, pixels):
        tifffile.imwrite(out["no_pixel_size"] / f"{name}.tif", plane)

    # Metadata intact, pixel data damaged: only a rule that reads the pixels can tell.
    data = bytearray(Path(demo_input["image"]).read_bytes())
    with tifffile.TiffFile(demo_input["image"]) as tif:
        page = tif.pages[0]
        offsets, counts = page.dataoffsets, page.databytecounts
    for off, cnt in zip(offsets, counts):
        data[off : off + cnt] = b"\xff" * cnt
    out["damaged_pixels"] = folder / "damaged pixels.ome.tif"
    out["damaged_pixels"].write_bytes(bytes(data))
    return out


def _image(name):
    return lambda demo, images: demo_rows(demo, image=images[name])


CASES = [
    Case("empty sample sheet", "the sample sheet is empty", file=SHEET, sheet_text=""),
    Case(
        "sample sheet not UTF-8",
        "not UTF-8 text",
        file=SHEET,
        sheet_text="sample\timage\nprélèvement\tx.tif\n".encode("latin-1"),
    ),
    Case(
        "sheet lacks the image column",
        "lacks the required column(s) ['image']",
        file=SHEET,
        sheet_text="sample\tpath\ndemo\tx.tif\n",
    ),
    Case(
        "duplicate sample names",
        "duplicate sample name(s) ['demo']",
        file=SHEET,
        rows=lambda demo, images: demo_rows(demo) * 2,
    ),
    Case(
        "image file missing",
        "the image 'missing/demo.ome.tif' does not exist",
        file=SHEET,
        sample=DEMO_SAMPLE,
        rows=lambda demo, images: demo_rows(demo, image="missing/demo.ome.tif"),
    ),
    Case(
        "corrupt TIFF",
        "cannot read the TIFF structure",
        file="corrupt.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("corrupt"),
    ),
    Case(
        "nuclear channel not in the image",
        "asks for channel(s) ['Hoechst'], which the image does not have ('Hoechst' in "
        "`segmentation.nuclear_channel` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={"segmentation": {"nuclear_channel": "Hoechst"}},
    ),
    Case(
        "no pixel size anywhere",
        "carries no pixel size",
        file="no pixel size",
        sample=DEMO_SAMPLE,
        rows=_image("no_pixel_size"),
    ),
    Case(
        "zero pixel size in the sheet",
        "pixel_size_um is '0', not a positive number",
        file=SHEET,
        sample=DEMO_SAMPLE,
        rows=lambda demo, images: [dict(demo_rows(demo)[0], pixel_size_um="0")],
    ),
    Case(
        "negative pixel size in the config",
        "`pixel_size_um`: -0.5 is less than or equal to the minimum of 0",
        file=CONFIG,
        overrides={"pixel_size_um": -0.5},
    ),
    Case(
        "RGB image",
        "the image is RGB",
        file="brightfield.tif",
        sample=DEMO_SAMPLE,
        rows=_image("rgb"),
    ),
    Case(
        "overlap as big as the tile",
        "overlap_px (1024) must be smaller than segmentation.tile_px (1024)",
        file=CONFIG,
        overrides={"segmentation": {"tile_px": 1024, "overlap_px": 1024}},
    ),
    Case(
        "halo as big as the job tile",
        "job_halo_px (512) must be smaller than segmentation.job_tile_px (512)",
        file=CONFIG,
        overrides={"segmentation": {"tile_jobs": True, "job_tile_px": 512, "job_halo_px": 512}},
    ),
    Case(
        "margin width out of range",
        "`spatial.margin_um`: 5000 is greater than the maximum of 2000",
        file=CONFIG,
        overrides={"spatial": {"margin_um": 5000}},
    ),
    Case(
        "margin width zero",
        "`spatial.margin_um`: 0 is less than or equal to the minimum of 0",
        file=CONFIG,
        overrides={"spatial": {"margin_um": 0}},
    ),
    Case(
        "unknown model name",
        "segmentation.model 'frontline_nucleii' is neither a folder",
        file=CONFIG,
        overrides={"segmentation": {"model": "frontline_nucleii"}},
    ),
    Case(
        "phenotype names an unknown channel",
        "asks for channel(s) ['CD8a'], which the image does not have ('CD8a' in "
        "`phenotyping.phenotypes.CD8_T.positive` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={
            "phenotyping": {"phenotypes": {"CD8_T": {"parent": "T_cell", "positive": ["CD8a"]}}}
        },
    ),
    Case(
        "phenotype tree with a cycle",
        "the phenotype tree has a cycle: T_cell -> CD8_T -> T_cell",
        file=CONFIG,
        overrides={
            "phenotyping": {"phenotypes": {"T_cell": {"parent": "CD8_T", "positive": ["CD3"]}}}
        },
    ),
    Case(
        "non-numeric manual gate",
        "the gate for marker 'CD8' is 'high', neither 'auto' nor a number",
        file=CONFIG,
        overrides={"phenotyping": {"gates": {"CD8": "high"}}},
    ),
    Case(
        "state names an unknown marker",
        "asks for channel(s) ['PD1'], which the image does not have ('PD1' in "
        "`states.PD1_pos.positive` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={"states": {"PD1_pos": {"positive": ["PD1"], "of": ["CD8_T"]}}},
    ),
    Case(
        "state names an unknown phenotype",
        "`states.CD8_act.of` (config/config.yaml) names the phenotype 'CD8T', which the "
        "phenotype table",
        file=CONFIG,
        overrides={"states": {"CD8_act": {"positive": ["CD8"], "of": ["CD8T"]}}},
    ),
    Case(
        "output folder not writable",
        "the output folder 'results' cannot be created",
        file="results",
        prepare=lambda work: (work / "results").write_text("a file"),
    ),
    Case(
        "pixel data damaged (metadata intact)",
        "cannot decode pixels",
        file="damaged pixels.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("damaged_pixels"),
        at_startup=False,
    ),
]


# A typo'd key in each section of the config: the run stops before any job, naming the key and
# the key meant (section: (the typo'd key with its value, the key meant)).
TYPOS = {
    "": ({"pixel_size": 0.5}, "pixel_size_um"),
    "simulate": ({"outdr": "sim"}, "outdir"),
    "segmentation": ({"tile_pxx": 512}, "tile_px"),
    "training": ({"epoch": 10}, "epochs"),
    "measure": ({"cell_expansion": 2.0}, "cell_expansion_um"),
    "phenotyping": ({"min_confidance": 0.2}, "min_confidence"),
    "front": ({"closing": 30.0}, "closing_um"),
    "spatial": ({"margin": 50.0}, "margin_um"),
    "evaluation": ({"iou_treshold": 0.6}, "iou_threshold"),
    "report": ({"dpii": 100}, "dpi"),
    "download": ({"file": {}}, "files"),
}


def _typo_case(section, typo, meant):
    (key,) = typo
    where, prefix = (f"`{section}`", f"{section}.") if section else ("the top level", "")
    return Case(
        f"typo in the config ({section or 'top level'})",
        f"config key `{prefix}{key}` is not a key of {where} (did you mean `{prefix}{meant}`?)",
        file=CONFIG,
        overrides={section: typo} if section else typo,
    )


CASES += [_typo_case(section, typo, meant) for section, (typo, meant) in TYPOS.items()]


def _outputs(work):
    """Files under results/ (none may exist after a failed start; none partial ever)."""
    res = work / "results"
    return sorted(str(p.relative_to(work)) for p in res.rglob("*")) if res.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, demo_input, bad_images):
    work = tmp_path / "work"
    rows = case.rows(demo_input, bad_images) if case.rows else demo_rows(demo_input)
    make_workdir(work, rows=rows, overrides=case.overrides, sheet_text=case.sheet_text)
    if case.prepare:
        case.prepare(work)

    proc = snakemake(work, timeout_s=300)

    assert proc.returncode != 0, proc.output[-3000:]
    text = " ".join(proc.output.split())  # messages may be wrapped
    assert case.problem in text, proc.output[-3000:]
    assert "Fix: " in text, proc.output[-3000:]
    if case.file:
        assert "file '" in text and case.file in text, proc.output[-3000:]
    if case.sample:
        assert f"sample '{case.sample}'" in text, proc.output[-3000:]
    if case.at_startup:
        assert "Select jobs to execute" not in proc.output, "a job started before the check"
        if case.prepare:  # `results` is a file: still the same file
            assert (work / "results").read_text() == "a file"
        else:
            assert not (work / "results").exists(), _outputs(work)
    else:
        assert "Select jobs to execute" in proc.output, "expected the check inside a rule"
        partial = [
            o for o in _outputs(work) if Path(o).name.startswith(".") or o.endswith(".partial")
        ]
        assert partial == [], f"partial files left behind: {partial}"
        assert not (work / "results" / DEMO_SAMPLE / "nuclei.ome.tif").exists()


def test_odd_but_valid_inputs_work(resumed_run, demo_run):
    """Non-ASCII sample name, spaces in the path, upper-case .OME.TIF: the demo's results."""
    odd = resumed_run["dir"] / "results" / ODD_SAMPLE
    assert (odd / "summary.json").is_file() and (odd / "cells.parquet").is_file()
    assert result_fingerprint(resumed_run["dir"], ODD_SAMPLE) == result_fingerprint(
        demo_run["dir"], DEMO_SAMPLE
    )
