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
if workflow.is_main_process:
    preflight.check_config(config, ORIGIN)
SAMPLES = sheet.load_sample_sheet(config["samples"])
validate(SAMPLES, schema="../schemas/samples.schema.yaml")
if workflow.is_main_process:
    preflight.check_samples(SAMPLES, config, config["samples"], ORIGIN)
    preflight.check_cohort(SAMPLES, config, ORIGIN)


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
    """The sample's image file or folder."""
    return SAMPLES.loc[wildcards.sample, "image"]


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
        + ["results/cohort/summary.tsv", "results/cohort/summary.png"]
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
    """After a successful run: where the results and the accuracy figures are."""
    import json

    import pandas as pd

    lines = [
        "",
        "frontline finished.",
        "  cohort table:  results/cohort/summary.tsv",
        "  cohort figure: results/cohort/summary.png",
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
            f"  {s}: results/{s}/ (summary.json, plots/, qupath_cells.geojson, cells.h5ad)"
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
