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
from runs import DEMO_SAMPLE, demo_rows, make_workdir, snakemake

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
    configfile: str = None  # a user's whole config (YAML, {outside} filled in): --configfile
    columns: tuple = None  # the sheet's columns, when the rows have more (e.g. gates)


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory, demo_input):
    """Broken variants of the demo image, made once: {name: path}."""
    from frontline import io
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

    # Float images with NaN or infinite pixels (the demo's pixels as float32).
    with open_image(demo_input["image"]) as img:
        full = img.read_channels(channels).astype(np.float32)

    def float_image(name, edit, pad=0):
        planes = np.pad(full, ((0, 0), (0, pad), (0, pad)), mode="reflect") if pad else full.copy()
        edit(planes)
        out[name] = folder / f"{name}.ome.tif"
        io.write_image(out[name], planes, channels, 0.5)

    cd8, panck, dapi = (channels.index(c) for c in ("CD8", "PanCK", "DAPI"))
    float_image("nan_marker", lambda a: a[cd8, : a.shape[1] // 2].fill(np.nan))  # half of CD8
    float_image("inf_marker", lambda a: a[panck, 100:140, 100:140].fill(np.inf))
    float_image("nan_nuclear", lambda a: a[dapi, 300:600, 300:600].fill(np.nan))
    # 1280 px: the startup sample (16 windows of 256 px) misses the corner; segmentation,
    # which reads all of the nuclear channel for its normalisation, does not
    float_image("nan_unsampled", lambda a: a[dapi, :24, :24].fill(np.nan), pad=256)

    # A pixel size of 1000 µm in the OME metadata (mm written as µm)
    out["ome_1000um"] = folder / "ome 1000 um.ome.tif"
    io.write_image(out["ome_1000um"], pixels, channels, 1000.0)
    # Three channels with names unlike the demo's (a user's own panel)
    out["panel"] = folder / "panel.ome.tif"
    keep = [channels.index(c) for c in ("DAPI", "PanCK", "CD8")]
    io.write_image(out["panel"], pixels[keep], ["Hoechst", "CK_EPCAM", "CD8a"], 0.5)
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


# The clinical table of the cohort statistics, checked at startup (demo sample = its patient).
COHORT = {
    "cohort": {
        "clinical": "clinical.tsv",
        "group": "response",
        "survival": {"time": "os_days", "event": "death"},
    }
}


def _clinical(*rows, header="patient\tos_days\tdeath\tresponse"):
    text = "\n".join([header, *rows]) + "\n"
    return lambda work: (work / "clinical.tsv").write_text(text, encoding="utf-8")


CASES += [
    Case(
        "clinical table missing",
        "the clinical table (config `cohort.clinical`) does not exist",
        file="clinical.tsv",
        overrides=COHORT,
    ),
    Case(
        "clinical table names a patient no sample has",
        "the clinical table names 1 patient(s) no sample of the sheet has: ghost",
        file="clinical.tsv",
        overrides=COHORT,
        prepare=_clinical(f"{DEMO_SAMPLE}\t300\t1\tR", "ghost\t20\t0\tNR"),
    ),
    Case(
        "clinical table lacks the event column",
        "the clinical table lacks the column(s) 'death'",
        file="clinical.tsv",
        overrides=COHORT,
        prepare=_clinical(f"{DEMO_SAMPLE}\t300\tR", header="patient\tos_days\tresponse"),
    ),
    Case(
        "survival time not a number",
        "survival time column 'os_days' has values that are not numbers >= 0: patient demo: "
        "'3 years'",
        file="clinical.tsv",
        overrides=COHORT,
        prepare=_clinical(f"{DEMO_SAMPLE}\t3 years\t1\tR"),
    ),
    Case(
        "event not 0 or 1",
        "event column 'death' has values other than 0 and 1: patient demo: 'dead'",
        file="clinical.tsv",
        overrides=COHORT,
        prepare=_clinical(f"{DEMO_SAMPLE}\t300\tdead\tR"),
    ),
    Case(
        "a patient's clinical rows disagree",
        "patient(s) demo have several rows that disagree",
        file="clinical.tsv",
        overrides=COHORT,
        prepare=_clinical(f"{DEMO_SAMPLE}\t300\t1\tR", f"{DEMO_SAMPLE}\t300\t0\tR"),
    ),
    Case(
        "survival time without an event column",
        "`cohort: survival:` names the time column but not the event column",
        file=CONFIG,
        overrides={"cohort": {"clinical": "clinical.tsv", "survival": {"time": "os_days"}}},
    ),
]

# ------------------------------------------------------------------ names and paths (issue 19)
# No file is ever written outside the working folder or results/: names that become folder or
# file names, and paths rules write to, are checked before any job.


def _named(sample):
    return lambda demo, images: demo_rows(demo, sample=sample)


NAME_FIX = "name samples with letters, digits, '_', '-', '.' and '+' only"
PATH_FIX = "use a relative path inside the working folder"
FILE_FIX = "sha256: " + "0" * 64  # a checksum the schema accepts (the file is never fetched)

CASES += [
    Case(
        "sample named ..",
        "the sample name '..' cannot be a folder name: '..' is the current or the parent folder",
        file=SHEET,
        sample="..",
        rows=_named(".."),
    ),
    Case(
        "sample named .",
        "the sample name '.' cannot be a folder name",
        SHEET,
        ".",
        rows=_named("."),
    ),
    Case(
        "sample name with a slash",
        "the sample name 'a/b' cannot be a folder name: it holds a path separator",
        file=SHEET,
        sample="a/b",
        rows=_named("a/b"),
    ),
    Case(
        "sample name too long",
        "cannot be a folder name: it has 120 characters, more than 100",
        file=SHEET,
        rows=_named("s" * 120),
    ),
    Case(
        "sample name with a star",
        "the sample name 'a*b' cannot be a folder name: it holds the character(s) ['*']",
        file=SHEET,
        sample="a*b",
        rows=_named("a*b"),
    ),
    Case(
        "hidden sample name",
        "the sample name '.snakemake' cannot be a folder name: it starts with '.' or '-'",
        file=SHEET,
        sample=".snakemake",
        rows=_named(".snakemake"),
    ),
    Case(
        "download file name climbing out of its folder",
        "`download.folders.data/fov1.files` (config/config.yaml) gives the name or path "
        "'../../escaped.txt', which a rule would write to, but it holds a path separator",
        file=CONFIG,
        overrides={
            "download": {
                "folders": {
                    "data/fov1": {
                        "url": "https://example.org/fov1",
                        "files": {"../../escaped.txt": {"sha256": "0" * 64}},
                    }
                }
            }
        },
    ),
    Case(
        "download file name that is an absolute path",
        "gives the name or path '{outside}/escaped.txt', which a rule would write to, but it "
        "holds a path separator",
        file=CONFIG,
        overrides={
            "download": {
                "folders": {
                    "data/fov1": {
                        "url": "https://example.org/fov1",
                        "files": {"{outside}/escaped.txt": {"sha256": "0" * 64}},
                    }
                }
            }
        },
    ),
    Case(
        "download destination outside the working folder",
        "gives the name or path '../outside.tif', which a rule would write to, but it climbs "
        "out through '..'",
        file=CONFIG,
        overrides={
            "download": {
                "files": {
                    "../outside.tif": {"url": "https://example.org/a.tif", "sha256": "0" * 64}
                }
            }
        },
    ),
    Case(
        "download folder at an absolute path",
        "gives the name or path '{outside}/fov1', which a rule would write to, but it is absolute",
        file=CONFIG,
        overrides={
            "download": {
                "folders": {
                    "{outside}/fov1": {
                        "url": "https://example.org/fov1",
                        "files": {"CD8.tif": {"sha256": "0" * 64}},
                    }
                }
            }
        },
    ),
    Case(
        "simulated images written outside",
        "`simulate.outdir` (config/config.yaml) gives the name or path '{outside}/sim', which a "
        "rule would write to, but it is absolute",
        file=CONFIG,
        overrides={"simulate": {"outdir": "{outside}/sim"}},
    ),
    Case(
        "simulated sample named ..",
        "gives the name or path '..', which a rule would write to, but '..' is the current or "
        "the parent folder",
        file=CONFIG,
        overrides={"simulate": {"samples": {"..": {"preset": "inflamed", "seed": 1}}}},
    ),
    Case(
        "trained model named with a path",
        "`training.name` (config/config.yaml) gives the name or path '../model', which a rule "
        "would write to, but it holds a path separator",
        file=CONFIG,
        overrides={"training": {"name": "../model"}},
    ),
]

# ------------------------------------------------------------------ pixels, scale (issue 19)
NONFINITE = "replace the NaN or infinite pixels in the image"

CASES += [
    Case(
        "marker channel half NaN",
        "the image has NaN or infinite pixels in 1 channel(s), as shares of 1 sample window(s) "
        "each: 'CD8' 50% (524288 NaN, 0 infinite)",
        file="nan_marker.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("nan_marker"),
    ),
    Case(
        "infinite pixels in a marker",
        "'PanCK' 0.153% (0 NaN, 1600 infinite)",
        file="inf_marker.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("inf_marker"),
    ),
    Case(
        "NaN block in the nuclear channel",
        "'DAPI' 8.58% (90000 NaN, 0 infinite)",
        file="nan_nuclear.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("nan_nuclear"),
    ),
    Case(
        "NaN pixels the startup sample misses",
        "channel 'DAPI' has NaN or infinite pixels: 0.0352% of the window y 0:1280, x 0:1280 "
        "(576 NaN, 0 infinite)",
        file="nan_unsampled.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("nan_unsampled"),
        at_startup=False,
    ),
    Case(
        "OME pixel size of 1000 µm",
        "the pixel size 1000 µm per pixel (from the file's OME PhysicalSizeX/Y) is implausible",
        file="ome 1000 um.ome.tif",
        sample=DEMO_SAMPLE,
        rows=_image("ome_1000um"),
    ),
    Case(
        "sheet pixel size of 0.01 µm",
        "the pixel size 0.01 µm per pixel (from the sample sheet's pixel_size_um) is implausible",
        file=SHEET,
        sample=DEMO_SAMPLE,
        rows=lambda demo, images: demo_rows(demo, image=images["no_pixel_size"]),
        prepare=lambda work: _set_sheet_column(work, "pixel_size_um", "0.01"),
    ),
    Case(
        "sheet pixel size of 20 µm",
        "the pixel size 20 µm per pixel (from the sample sheet's pixel_size_um) is implausible",
        file=SHEET,
        sample=DEMO_SAMPLE,
        rows=lambda demo, images: demo_rows(demo, image=images["no_pixel_size"]),
        prepare=lambda work: _set_sheet_column(work, "pixel_size_um", "20"),
    ),
    Case(
        "config pixel size of 50 µm",
        "the pixel size 50 µm per pixel (from the config's pixel_size_um) is implausible",
        file=CONFIG,
        overrides={"pixel_size_um": 50.0},
    ),
    Case(
        "model pixel size of 0.01 µm",
        "the pixel size 0.01 µm per pixel (from the config's segmentation.model_pixel_size_um)",
        file=CONFIG,
        overrides={"segmentation": {"model_pixel_size_um": 0.01}},
    ),
    Case(
        "rescale to the model beyond x10",
        "segmentation would rescale the image x0.0125 (0.05 µm per pixel from the sample "
        "sheet's pixel_size_um, to the model's 4 from the config's "
        "segmentation.model_pixel_size_um)",
        file="no pixel size",
        sample=DEMO_SAMPLE,
        rows=lambda demo, images: demo_rows(demo, image=images["no_pixel_size"]),
        prepare=lambda work: _set_sheet_column(work, "pixel_size_um", "0.05"),
        overrides={"segmentation": {"model_pixel_size_um": 4.0}},
    ),
]

# ------------------------------------------------------------------ references (issues 13, 19)
# Every phenotype or marker a key names exists; a user's own config file is the whole config
# (the demo's config/config.yaml in the working folder must not leak in).
PANEL = """\
samples: config/samples.tsv
segmentation: {{nuclear_channel: {nuclear}}}
phenotyping:
  exclusive: [[tumor, CD8_T]]
  phenotypes:
    tumor: {{positive: [CK_EPCAM]}}
    CD8_T: {{positive: [CD8a]}}
spatial:
  immune_types: [CD8_T]
  call: {{phenotype: CD8_T}}
"""


def _panel(drop=()):
    """The panel's whole config, without the lines holding any of ``drop``."""
    lines = PANEL.format(nuclear="Hoechst").splitlines()
    return "\n".join(line for line in lines if not any(d in line for d in drop)) + "\n"


PANEL_IMAGE = _image("panel")

CASES += [
    Case(
        "immune type that is no phenotype",
        "`spatial.immune_types` (config/config.yaml) names the phenotype 'NK_cell', which the "
        "phenotype table (`phenotyping.phenotypes`) does not define",
        file=CONFIG,
        overrides={"spatial": {"immune_types": ["CD8_T", "NK_cell"]}},
    ),
    Case(
        "call phenotype misspelt",
        "`spatial.call.phenotype` (config/config.yaml) names the phenotype 'CD8T', which the "
        "phenotype table (`phenotyping.phenotypes`) does not define; its phenotypes are",
        file=CONFIG,
        overrides={"spatial": {"call": {"phenotype": "CD8T"}}},
    ),
    Case(
        "tumor phenotype that is no phenotype",
        "`front.tumor_phenotype` (config/config.yaml) names the phenotype 'carcinoma'",
        file=CONFIG,
        overrides={"front": {"tumor_phenotype": "carcinoma"}},
    ),
    Case(
        "exclusive group naming no phenotype",
        "`phenotyping: exclusive` names ['tumour'], which are not phenotypes",
        file=CONFIG,
        overrides={"phenotyping": {"exclusive": [["tumour", "immune"]]}},
    ),
    Case(
        "evaluation map from no phenotype",
        "`evaluation.phenotype_map` (config/config.yaml) names the phenotype 'Tcell'",
        file=CONFIG,
        overrides={"evaluation": {"phenotype_map": {"Tcell": "CD8_T"}}},
    ),
    Case(
        "compartment for a marker the image lacks",
        "asks for channel(s) ['CD8a'], which the image does not have ('CD8a' in "
        "`phenotyping.compartments` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={"phenotyping": {"compartments": {"CD8a": "cell"}}},
    ),
    Case(
        "exclusive compartment for a marker the image lacks",
        "('KRT' in `phenotyping.exclusive_compartments` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={"phenotyping": {"exclusive_compartments": {"KRT": "nucleus"}}},
    ),
    Case(
        "exclusive compartment for a marker no phenotype uses",
        "`phenotyping.exclusive_compartments` (config/config.yaml) names the marker 'DAPI', "
        "which no phenotype and no gate uses, so it settles nothing",
        file=CONFIG,
        overrides={"phenotyping": {"exclusive_compartments": {"DAPI": "nucleus"}}},
    ),
    Case(
        "config gate for a marker the image lacks",
        "('PDL1' in `phenotyping.gates` (config/config.yaml))",
        file="demo.ome.tif",
        sample=DEMO_SAMPLE,
        overrides={"phenotyping": {"gates": {"PDL1": 300}}},
    ),
    Case(
        "own config without a phenotype table",
        "config key `phenotyping.phenotypes` (the phenotype table: name -> {parent, positive: "
        "[markers], negative: [markers]}) is not set, and it has no default",
        file="my.yaml",
        rows=PANEL_IMAGE,
        configfile=_panel(drop=("phenotypes:", "{positive")),
    ),
    Case(
        "own config without immune types",
        "config key `spatial.immune_types` (the phenotypes analysed one by one) is not set, and "
        "it has no default (a default could name phenotypes your panel does not have). Fix: add "
        "`spatial: {immune_types: [CD8_T]}` to my.yaml (your phenotypes: ['tumor', 'CD8_T'])",
        file="my.yaml",
        rows=PANEL_IMAGE,
        configfile=_panel(drop=("immune_types",)),
    ),
    Case(
        "own config without the call phenotype",
        "config key `spatial.call.phenotype` (the phenotype whose densities decide the immune "
        "phenotype call) is not set",
        file="my.yaml",
        rows=PANEL_IMAGE,
        configfile=_panel(drop=("call:",)),
    ),
    Case(
        "own config relying on the default nuclear channel",
        "the config asks for channel(s) ['DAPI'], which the image does not have ('DAPI' in "
        "`segmentation.nuclear_channel` (the schema default: my.yaml does not set it)); its "
        "channels are ['Hoechst', 'CK_EPCAM', 'CD8a']. Fix: add `segmentation: "
        "{nuclear_channel: NAME}` to my.yaml (the image's nuclear channel)",
        file="panel.ome.tif",
        sample=DEMO_SAMPLE,
        rows=PANEL_IMAGE,
        configfile=_panel(drop=("segmentation",)),
    ),
    Case(
        "own config naming a channel the image lacks",
        "the config asks for channel(s) ['CD8'], which the image does not have ('CD8' in "
        "`phenotyping.phenotypes.CD8_T.positive` (my.yaml)); its channels are ['Hoechst', "
        "'CK_EPCAM', 'CD8a']. Fix: 'CD8' -> 'CD8a' in my.yaml",
        file="panel.ome.tif",
        sample=DEMO_SAMPLE,
        rows=PANEL_IMAGE,
        configfile=_panel().replace("[CD8a]", "[CD8]"),
    ),
]

# ------------------------------------------------------------------ gates tables (issue 13)
GATES_COLUMNS = ("sample", "image", "pixel_size_um", "annotation", "truth", "gates")


def _with_gates(path="gates.tsv"):
    return lambda demo, images: [dict(demo_rows(demo)[0], gates=path)]


def _gates_file(text):
    return lambda work: (work / "gates.tsv").write_text(text, encoding="utf-8")


def _gates_case(id, problem, text, path="gates.tsv"):
    return Case(
        id,
        problem,
        file=path if text is not None else SHEET,
        sample=DEMO_SAMPLE,
        rows=_with_gates(path),
        prepare=_gates_file(text) if text is not None else None,
        columns=GATES_COLUMNS,
    )


CASES += [
    _gates_case(
        "gates table missing", "the gates table 'none.tsv' does not exist", None, "none.tsv"
    ),
    _gates_case(
        "gates table with a marker the config does not gate",
        "the gates table sets a gate for 'CD8a', a marker the config does not gate (did you mean "
        "'CD8'?)",
        "marker\tgate\nCD8a\t300\n",
    ),
    _gates_case(
        "gates table for a sample the sheet lacks",
        "the gates table names the sample(s) ['demo2'], which the sample sheet does not have",
        "sample\tmarker\tgate\ndemo2\tCD8\t300\n",
    ),
    _gates_case(
        "gates table with a word for a gate",
        "the gate for marker 'CD8' is 'high', neither 'auto' nor a number",
        "marker\tgate\nCD8\thigh\n",
    ),
    _gates_case(
        "gates table from another compartment",
        "the gate for 'PanCK' is for its cell intensity, but the config gates PanCK in its "
        "ring_median intensity",
        "marker\tcompartment\tgate\nPanCK\tcell\t300\n",
    ),
]

# ------------------------------------------------------------------ ranges and orderings (issue 19)
CASES += [
    Case(
        "band range reversed",
        "`spatial.band_range_um` (config/config.yaml) is [500.0, -500.0]: the first band edge "
        "(500) must be smaller than the last band edge (-500)",
        file=CONFIG,
        overrides={"spatial": {"band_range_um": [500.0, -500.0]}},
    ),
    Case(
        "band wider than the band range",
        "`spatial.band_width_um` (config/config.yaml) is 500 µm, wider than the band range "
        "[-100.0, 100.0] (200 µm): densities.tsv would have no band",
        file=CONFIG,
        overrides={"spatial": {"band_width_um": 500.0, "band_range_um": [-100.0, 100.0]}},
    ),
    Case(
        "normalisation percentiles reversed",
        "`segmentation.norm_percentiles` (config/config.yaml) is [99.8, 1.0]: the low "
        "percentile (99.8) must be smaller than the high percentile (1)",
        file=CONFIG,
        overrides={"segmentation": {"norm_percentiles": [99.8, 1.0]}},
    ),
    Case(
        "normalisation percentiles equal",
        "the low percentile (50) must be smaller than the high percentile (50)",
        file=CONFIG,
        overrides={"segmentation": {"norm_percentiles": [50.0, 50.0]}},
    ),
    Case(
        "training percentiles reversed",
        "`training.norm_percentiles` (config/config.yaml) is [99.0, 2.0]",
        file=CONFIG,
        overrides={"training": {"norm_percentiles": [99.0, 2.0]}},
    ),
    Case(
        "L-function radii not rising",
        "`spatial.lfunction_radii_um` (config/config.yaml) is [10, 30, 20]: the radii must rise, "
        "each once",
        file=CONFIG,
        overrides={"spatial": {"lfunction_radii_um": [10, 30, 20]}},
    ),
    Case(
        "neighbour radii repeated",
        "`spatial.radii_um` (config/config.yaml) is [25.0, 25.0, 50.0]: the radii must rise",
        file=CONFIG,
        overrides={"spatial": {"radii_um": [25.0, 25.0, 50.0]}},
    ),
    Case(
        "permutations beyond reason",
        "`spatial.permutations`: 1000000 is greater than the maximum of 9999",
        file=CONFIG,
        overrides={"spatial": {"permutations": 1000000}},
    ),
    Case(
        "band edge beyond 5 mm",
        "`spatial.band_range_um.1`: 50000 is greater than the maximum of 5000",
        file=CONFIG,
        overrides={"spatial": {"band_range_um": [-500, 50000]}},
    ),
]


def _set_sheet_column(work, column, value):
    """Set one column of every row of the work folder's sample sheet."""
    import pandas as pd

    path = work / "config" / "samples.tsv"
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    sheet[column] = value
    sheet.to_csv(path, sep="\t", index=False)


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
    "cohort": ({"clincal": "c.tsv"}, "clinical"),
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


def _fill(value, outside):
    """``value`` with "{outside}" replaced by a folder outside the working folder."""
    if isinstance(value, dict):
        return {_fill(k, outside): _fill(v, outside) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, outside) for v in value]
    return value.replace("{outside}", outside) if isinstance(value, str) else value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, demo_input, bad_images):
    work = tmp_path / "work"
    outside = str(tmp_path / "outside")  # absolute paths in a case point here
    rows = case.rows(demo_input, bad_images) if case.rows else demo_rows(demo_input)
    make_workdir(
        work,
        rows=rows,
        overrides=_fill(case.overrides, outside),
        sheet_text=case.sheet_text,
        columns=case.columns,
    )
    if case.prepare:
        case.prepare(work)
    args = []
    if case.configfile:
        (work / "my.yaml").write_text(_fill(case.configfile, outside), encoding="utf-8")
        args = ["--configfile", "my.yaml"]

    proc = snakemake(work, *args, timeout_s=300)

    assert proc.returncode != 0, proc.output[-3000:]
    text = " ".join(proc.output.split())  # messages may be wrapped
    assert _fill(case.problem, outside) in text, proc.output[-3000:]
    assert "Fix: " in text, proc.output[-3000:]
    if case.file:
        assert "file '" in text and case.file in text, proc.output[-3000:]
    if case.sample:
        assert f"sample '{case.sample}'" in text, proc.output[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"], "a file outside the work folder"
    if case.at_startup:
        assert "Select jobs to execute" not in proc.output, "a job started before the check"
        if case.id == "output folder not writable":  # `results` is a file: still the same file
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
