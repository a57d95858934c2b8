# Sample sheet and config: loaded and validated once; small input functions for every stage.

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))  # the library, also uninstalled

from snakemake.utils import validate

from frontline import phenotype, preflight, sheet
from frontline import segment as frontline_segment
from frontline import simulate as frontline_simulate
from frontline.errors import FrontlineInputError

# Bad config or sheet: stop here, before any job, with one paragraph naming file, problem, fix.
# (Jobs read this file again; the main process has checked everything by then.) The schema
# check comes first, so a bad config gets that paragraph rather than validate's traceback;
# validate then fills in every default the schema gives, before anything reads the config.
# ORIGIN tells the messages where each setting came from (a config file, --config, a default).
ORIGIN = preflight.Origin(workflow.configfiles, workflow.config_settings.config)
if workflow.is_main_process:
    preflight.check_schema(
        config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml", ORIGIN
    )
validate(config, schema="../schemas/config.schema.yaml")
# The shipped models travel with the Snakefile: found from any working folder.
config["segmentation"]["model_basedir"] = frontline_segment.models_folder(
    config["segmentation"]["model_basedir"], workflow.basedir
)
SAMPLES = sheet.load_sample_sheet(config["samples"])
validate(SAMPLES, schema="../schemas/samples.schema.yaml")
if workflow.is_main_process:
    # The config's phenotype checks need the phenotype names cell tables carry (and whether any
    # sample needs a phenotype tree): those tables are read first.
    TABLES = preflight.table_samples(SAMPLES, config, config["samples"])
    preflight.check_config(config, ORIGIN, TABLES)
    preflight.check_samples(SAMPLES, config, config["samples"], ORIGIN)
    preflight.check_cohort(SAMPLES, config, ORIGIN)
    for _note in preflight.batch_notes(SAMPLES):
        print(_note, file=sys.stderr)


def exactly(values):
    """A wildcard regex matching exactly these values (and nothing when there are none)."""
    return "|".join(sheet.wildcard_pattern(values)) or "(?!x)x"


def library_version(module):
    """A short hash of a library module's source (a package: all its .py files, sorted): a
    rule's param that reruns the rule when the code that makes its outputs changes (Snakemake
    tracks only the rule's own script)."""
    import hashlib

    base = Path(workflow.basedir) / "workflow" / "frontline"
    package = base / module
    paths = sorted(package.rglob("*.py")) if package.is_dir() else [base / f"{module}.py"]
    digest = hashlib.sha256()
    for path in paths:  # the file names too: a renamed module is new code
        digest.update(path.relative_to(base).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def row_of(wildcards):
    return SAMPLES.loc[wildcards.sample]


def image_of(wildcards):
    """The sample's image file or folder (none for a cell-table sample)."""
    return SAMPLES.loc[wildcards.sample, "image"] or []


def labels_of(wildcards):
    """The sample's nuclei labels (none for a cell-table sample)."""
    return [] if wildcards.sample in TABLE_SAMPLES else f"results/{wildcards.sample}/nuclei.ome.tif"


def pixel_size_of(wildcards):
    """Pixel size from the sample sheet (µm), or None: the image's own metadata wins."""
    value = sheet.optional(SAMPLES.loc[wildcards.sample, "pixel_size_um"])
    return None if value is None else float(value)


def fluor_map_of(wildcards):
    """The sample's fluor-name -> marker map (config `fluor_maps`, sheet column), or None."""
    key = sheet.optional(SAMPLES.loc[wildcards.sample, "fluor_map"])
    maps = config["fluor_maps"]
    if key is not None and key not in maps:
        raise FrontlineInputError(
            f"fluor_map '{key}' is not a key of config `fluor_maps` " f"{list(maps)}",
            sample=wildcards.sample,
            file=config["samples"],
            fix="add the map under `fluor_maps:` or fix the sheet",
        )
    return None if key is None else maps[key]


# Cell-table samples (sheet column `cells`) skip segment and measure, and phenotype when the
# table carries phenotypes or positivity flags; its header (read once) tells which.
from frontline import celltables
from frontline.io import read_table_header

TABLE_SAMPLES = [s for s in SAMPLES.index if sheet.is_cell_table(SAMPLES, s)]
IMAGE_SAMPLES = [s for s in SAMPLES.index if s not in TABLE_SAMPLES]
_TABLE_HEADERS = {}


def table_phenotypes_from(sample):
    """Where a table sample's phenotypes come from: table, flags or gating (its header)."""
    path = SAMPLES.loc[sample, "cells"]
    if not Path(path).exists():  # a table the workflow makes (a download) is read later
        return celltables.FROM_TABLE
    if path not in _TABLE_HEADERS:
        _TABLE_HEADERS[path] = read_table_header(path, sample=sample)
    columns = celltables.renamed(_TABLE_HEADERS[path], config["cell_tables"]["columns"])
    return celltables.phenotype_source(columns, sheet.cells_format(SAMPLES, sample))


GATED_TABLES = [s for s in TABLE_SAMPLES if table_phenotypes_from(s) == celltables.FROM_GATING]
PHENOTYPED_TABLES = [s for s in TABLE_SAMPLES if s not in GATED_TABLES]
# samples whose phenotype step writes qc.tsv (gates and lineages): all but the cell tables that
# name their phenotypes (their call's QC row is in summary.json all the same)
QC_SAMPLES = [s for s in SAMPLES.index if s not in PHENOTYPED_TABLES]


def qc_of(wildcards):
    """The sample's qc.tsv, or nothing for a cell table that names its phenotypes."""
    return [f"results/{wildcards.sample}/qc.tsv"] if wildcards.sample in QC_SAMPLES else []


def table_pixel_size_of(wildcards):
    """µm per pixel of a table sample (sheet, else config), or None (also for image samples:
    their pixel size is the image's)."""
    if wildcards.sample not in TABLE_SAMPLES:
        return None
    value = sheet.optional(SAMPLES.loc[wildcards.sample, "pixel_size_um"])
    return float(value) if value is not None else config["pixel_size_um"]


# The four params every image-reading rule declares (frontline.step.open_input_image reads them).
IMAGE_PARAMS = dict(
    pixel_size_um=pixel_size_of,
    default_pixel_size_um=config["pixel_size_um"],
    channel_names=config["channel_names"],
    fluor_map=fluor_map_of,
)


def image_params_of(wildcards):
    """IMAGE_PARAMS for one sample: the keyword arguments of frontline.io.open_image."""
    return {k: v(wildcards) if callable(v) else v for k, v in IMAGE_PARAMS.items()}


def annotation_of(wildcards):
    """The annotation GeoJSON as a list (empty when the sheet gives none)."""
    value = sheet.optional(SAMPLES.loc[wildcards.sample, "annotation"])
    return [] if value is None else [value]


def gates_of(wildcards):
    """The sample's gates table as a list (empty when the sheet gives none): an input of its
    phenotype job, so a new gate reruns that sample only."""
    value = sheet.optional(SAMPLES.loc[wildcards.sample, "gates"])
    return [] if value is None else [value]


def batch_name(sample):
    """The sample's batch (sheet column `batch`), or None."""
    return sheet.optional(SAMPLES.loc[sample, "batch"])


def batch_members(batch):
    """The samples of a batch, in sheet order."""
    return [s for s in SAMPLES.index if batch_name(s) == batch]


BATCHES = sorted({b for b in map(batch_name, SAMPLES.index) if b is not None})


def batch_gates_of(wildcards):
    """The gates table of the sample's batch as a list (empty without a batch)."""
    batch = batch_name(wildcards.sample)
    return [] if batch is None else [f"results/batches/{batch}/gates.tsv"]


def truth_of(wildcards):
    """Truth files (prefix + .truth_*) as a dict, empty when the sample has none."""
    prefix = sheet.optional(SAMPLES.loc[wildcards.sample, "truth"])
    return {} if prefix is None else frontline_simulate.truth_files(prefix)


def samples_with_truth():
    return [s for s in SAMPLES.index if sheet.optional(SAMPLES.loc[s, "truth"]) is not None]


COHORT = config["cohort"]
PATIENTS = sheet.patients_of(SAMPLES)  # sample -> patient (the sample itself by default)


def cohort_outputs():
    """The cohort targets of `all`: the features always, the statistics with a clinical table."""
    features = ["results/cohort/features.tsv", "results/cohort/feature_descriptions.tsv"]
    if not COHORT["clinical"]:
        return features
    return features + [
        "results/cohort/group_tests.tsv",
        "results/cohort/survival.tsv",
        "results/cohort/km.png",
    ]


def all_outputs():
    """The targets of `all`: every stage's final outputs per sample, and the cohort."""
    return (
        expand("results/{sample}/summary.json", sample=SAMPLES.index)
        + expand("results/{sample}/evaluation.json", sample=samples_with_truth())
        + expand("results/{sample}/plots/overview.png", sample=SAMPLES.index)
        + expand("results/{sample}/qupath_cells.geojson", sample=SAMPLES.index)
        + expand("results/{sample}/cells.h5ad", sample=SAMPLES.index)
        + ["results/cohort/summary.tsv", "results/cohort/summary.png", "results/cohort/qc.tsv"]
        + cohort_outputs()
    )


HEADLINE_METRICS = (
    "precision",
    "recall",
    "f1",
    "tumor_vs_immune_accuracy",
    "macro_f1",
    "dist_median_abs_error_um",
    "density_bands_within_tolerance",
    "density_bands_compared",
    "call",
    "truth_call",
)


def print_where_results_are():
    """After a successful run: the QC flags first (a run with flagged gates must not look
    like a clean success), then where the results and the accuracy figures are."""
    import json

    import pandas as pd

    from frontline import qc

    def read(path):
        return pd.read_csv(path, sep="\t", keep_default_na=False)

    table = Path("results/cohort/qc.tsv")
    # a run of a few targets has no cohort table yet: the samples' own QC tables speak
    checks = (
        read(table)
        if table.exists()
        else qc.cohort_qc(
            [
                read(f"results/{s}/qc.tsv")
                for s in SAMPLES.index
                if Path(f"results/{s}/qc.tsv").exists()
            ]
        )
    )
    qc_lines = qc.qc_report_lines(checks) if len(checks) else ["frontline finished."]
    lines = [
        "",
        *qc_lines,
        "  cohort table:  results/cohort/summary.tsv",
        "  cohort figure: results/cohort/summary.png",
        "  QC table:      results/cohort/qc.tsv",
        "  per patient:   results/cohort/features.tsv (feature_descriptions.tsv says what each is)",
        "  HTML report:   snakemake --report report.html  (every figure and table, with captions)",
    ]
    notes = Path("results/cohort/notes.tsv")
    if notes.exists():
        lines.append("  outcome statistics: results/cohort/group_tests.tsv, survival.tsv, km.png")
        for note in pd.read_csv(notes, sep="\t")["note"]:
            lines.append(f"    note: {note}")
    for s in SAMPLES.index:
        lines.append(
            f"  {s}: results/{s}/ (summary.json, qc.tsv, plots/, qupath_cells.geojson, cells.h5ad)"
        )
        evaluation = Path(f"results/{s}/evaluation.json")
        if evaluation.exists():
            lines.append(f"    accuracy vs truth: {evaluation}")
            for section, values in json.loads(evaluation.read_text()).items():
                if isinstance(values, dict):
                    shown = [
                        (
                            f"{k}={values[k]:.3g}"
                            if isinstance(values[k], float)
                            else f"{k}={values[k]}"
                        )
                        for k in HEADLINE_METRICS
                        if k in values
                    ]
                    lines.append(f"      {section}: " + ", ".join(shown))
    if len(qc_lines) > 1:  # flags: said again last, where a reader looks
        lines += ["", *qc_lines[:2], "  (the flagged samples are listed above)"]
    print("\n".join(lines))


# segmentation: job tiles come from the image header, read once when the DAG is built
from types import SimpleNamespace

from frontline import io as frontline_io

_IMAGE_SHAPES = {}


def image_shape(sample):
    """(Y, X) of a sample's image from its header (read once), or None if it does not exist yet."""
    if sample not in _IMAGE_SHAPES:
        path = SAMPLES.loc[sample, "image"]
        if not Path(path).exists():
            _IMAGE_SHAPES[sample] = None
        else:
            wc = SimpleNamespace(sample=sample)
            with frontline_io.open_image(path, sample=sample, **image_params_of(wc)) as img:
                _IMAGE_SHAPES[sample] = tuple(img.shape)
    return _IMAGE_SHAPES[sample]


def uses_tile_jobs(sample):
    """Whether a sample is segmented as job tiles + merge (needs the image header)."""
    shape = image_shape(sample)
    if shape is None:
        return False
    return (
        bool(config["segmentation"]["tile_jobs"])
        or max(shape) >= config["segmentation"]["tile_jobs_min_px"]
    )


def job_tile_ids(sample):
    return list(
        frontline_segment.job_grid(image_shape(sample), config["segmentation"]["job_tile_px"])
    )


def job_tiles_of(wildcards):
    """The job tiles' object files of a tiled sample, row-major."""
    return expand(
        "results/{sample}/tiles/{tile}.npz",
        sample=wildcards.sample,
        tile=job_tile_ids(wildcards.sample),
    )


def megapixels(wildcards):
    shape = image_shape(wildcards.sample)
    return 16.0 if shape is None else shape[0] * shape[1] / 1e6
