"""frontline.preflight: config and sample-sheet problems caught before any job runs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from frontline import preflight
from frontline.config import fill_defaults
from frontline.errors import FrontlineInputError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture()
def config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))


def test_default_config_passes(config):
    preflight.check_schema(config, SCHEMA, ["config/config.yaml"])
    preflight.check_phenotyping(config["phenotyping"])


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        (
            "spatial",
            "margin_um",
            0,
            "`spatial.margin_um`: 0 is less than or equal to the minimum of 0",
        ),
        (
            "spatial",
            "margin_um",
            5000,
            "`spatial.margin_um`: 5000 is greater than the maximum of 2000",
        ),
        (
            "segmentation",
            "tile_px",
            "big",
            "`segmentation.tile_px`: 'big' is not of type 'integer'",
        ),
    ],
)
def test_schema_message_names_key_value_and_fix(config, section, key, value, expected):
    config[section][key] = value
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_schema(config, SCHEMA, ["my.yaml", "config/config.yaml"])
    text = err.value.message()
    assert expected in text
    assert "file 'config/config.yaml + my.yaml'" in text and "Fix: set `" in text


@pytest.mark.parametrize(
    "seg, expected",
    [
        (
            {"tile_px": 256, "overlap_px": 256},
            "overlap_px (256) must be smaller than segmentation.tile_px (256)",
        ),
        ({"job_tile_px": 512, "job_halo_px": 512}, "job_halo_px (512) must be smaller"),
    ],
)
def test_tile_settings(seg, expected):
    with pytest.raises(FrontlineInputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        preflight.check_segmentation(seg)


def test_unknown_model(tmp_path):
    (tmp_path / "models" / "mine").mkdir(parents=True)
    seg = {"model": "mne", "model_basedir": "models"}
    with pytest.raises(FrontlineInputError, match=r"'mne' is neither.*\['mine'\]"):
        preflight.check_segmentation(seg, model_basedir_root=tmp_path)
    for ok in ("mine", "2D_versatile_fluo", str(tmp_path / "models" / "mine")):
        preflight.check_segmentation(dict(seg, model=ok), model_basedir_root=tmp_path)


def test_missing_image_is_reported_unless_the_workflow_makes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there.tif").write_bytes(b"x")
    config = fill_defaults(
        {
            "simulate": {"outdir": "sim", "samples": {"a": {}}},
            "download": {"folders": {"dl/p1": {}}},
        }
    )
    ok = pd.DataFrame(
        {"image": ["there.tif", "sim/a.ome.tif", "dl/p1"], "annotation": ""},
        index=["s1", "s2", "s3"],
    )
    preflight.check_sample_files(ok, config, "sheet.tsv")
    bad = pd.DataFrame({"image": ["There.tif"], "annotation": ""}, index=["s4"])
    with pytest.raises(
        FrontlineInputError,
        match=r"sample 's4', file 'sheet.tsv': the image "
        r"'There.tif' does not exist.*did you mean",
    ):
        preflight.check_sample_files(bad, config, "sheet.tsv")


def test_output_folder_that_is_a_file(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(FrontlineInputError, match="is a file, not a folder"):
        preflight.check_writable(tmp_path / "results" / "x")
    preflight.check_writable(tmp_path / "new" / "results")


def test_images_are_opened_at_startup(tmp_path):
    import numpy as np
    import tifffile

    folder = tmp_path / "img"
    folder.mkdir()
    for name in ("DAPI", "PanCK"):
        tifffile.imwrite(folder / f"{name}.tif", np.zeros((64, 64), np.uint8))
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    config = fill_defaults(
        {
            "segmentation": {"nuclear_channel": "DAPI"},
            "phenotyping": {"phenotypes": {"tumor": {"positive": ["PanCK"]}}},
        }
    )
    sheet = pd.DataFrame(
        {"image": [str(folder)], "pixel_size_um": ["0.5"], "fluor_map": [""]}, index=["s1"]
    )
    preflight.check_images(sheet, config, "sheet.tsv")

    no_size = sheet.assign(pixel_size_um="")
    with pytest.raises(FrontlineInputError, match="sample 's1'.*no pixel size"):
        preflight.check_images(no_size, config, "sheet.tsv")
    config["phenotyping"]["phenotypes"]["T"] = {"positive": ["CD3"]}
    with pytest.raises(FrontlineInputError, match=r"ask\(s\) for channel\(s\) \['CD3'\]"):
        preflight.check_images(sheet, config, "sheet.tsv")
    with pytest.raises(FrontlineInputError, match="RGB"):
        preflight.check_images(sheet.assign(image=str(rgb)), config, "sheet.tsv")


def test_published_model_names_come_from_stardist(tmp_path):
    """A published name passes the startup check; a misspelt one fails, listing published names."""
    seg = {"model": "2D_versatile_fluo", "model_basedir": "models"}
    (tmp_path / "models" / "frontline_nuclei").mkdir(parents=True)
    preflight.check_segmentation(seg, "config.yaml", tmp_path)
    with pytest.raises(FrontlineInputError, match="2D_versatile_fluo"):
        preflight.check_segmentation({**seg, "model": "2D_versatil_fluo"}, "config.yaml", tmp_path)


# --------------------------------------------------------------------------- cell tables


def table_config(**sections):
    cfg = fill_defaults(
        {
            "samples": "s.tsv",
            "spatial": {"immune_types": ["CD8_T"], "call": {"phenotype": "CD8_T"}},
        }
    )
    for name, values in sections.items():
        cfg[name].update(values)
    return cfg


def table_sheet(tmp_path, rows, header="sample\tcells\tcells_format\tcells_rows\tpixel_size_um"):
    from frontline import sheet

    path = tmp_path / "s.tsv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return sheet.load_sample_sheet(path)


def write_table(tmp_path, name="t.csv", **columns):
    path = tmp_path / name
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_table_samples_pass_and_share_one_file(tmp_path):
    table = write_table(
        tmp_path,
        patient=[1, 1, 2, 2],
        x_px=[1.0, 2.0, 3.0, 4.0],
        y_px=[1.0, 2.0, 3.0, 4.0],
        phenotype=["Tumor", "CD8T", "Tumor", "CD8T"],
    )
    samples = table_sheet(
        tmp_path, [f"p1\t{table}\t\tpatient=1\t0.4", f"p2\t{table}\t\tpatient=2\t0.4"]
    )
    cfg = table_config(cell_tables={"phenotype_map": {"Tumor": "tumor", "CD8T": "CD8_T"}})
    preflight.check_table_samples(samples, cfg, "s.tsv")  # no tree needed: the tables name them


@pytest.mark.parametrize(
    ("columns", "row", "overrides", "problem"),
    [
        (
            {"x_um": [1.0], "y_um": [2.0], "type": ["T"]},
            "s1\t{t}\t\t\t",
            {},
            "no phenotype column, no positivity flags and no intensities",
        ),
        (
            {"x_px": [1.0], "y_px": [2.0], "phenotype": ["CD8_T"]},
            "s1\t{t}\t\t\t",
            {},
            "positions are in pixels (generic format) and no pixel size is given",
        ),
        (
            {"XMin": [1], "XMax": [2], "YMin": [1], "YMax": [2], "phenotype": ["CD8_T"]},
            "s1\t{t}\tgeneric\t\t",
            {},
            "they look like 'halo'",
        ),
        (
            {"x_um": [1.0, np.nan], "y_um": [2.0, 3.0], "phenotype": ["CD8_T", "tumor"]},
            "s1\t{t}\t\t\t",
            {},
            "1 of 2 cells have no position",
        ),
        (
            {"cell_id": [3, 3], "x_um": [1.0, 2.0], "y_um": [2.0, 3.0], "phenotype": ["a", "b"]},
            "s1\t{t}\t\t\t",
            {},
            "occur more than once",
        ),
        (
            {"x_um": [1.0], "y_um": [2.0], "phenotype": ["CD8T"]},
            "s1\t{t}\t\t\t",
            {},
            "spatial.call.phenotype and spatial.immune_types name(s) phenotype(s) ['CD8_T'] "
            "that no cell table",
        ),
        (
            {"x_um": [1.0], "y_um": [2.0], "CD8_cell_mean": [4.0]},
            "s1\t{t}\t\t\t",
            {"phenotyping": {"phenotypes": None}},
            "the config defines no phenotype tree",
        ),
        (
            {"x_um": [1.0], "y_um": [2.0], "phenotype": ["CD8_T"]},
            "s1\t{t}\t\tslide=2\t",
            {},
            "names the column 'slide'",
        ),
    ],
)
def test_bad_table_samples_stop_at_startup(tmp_path, columns, row, overrides, problem):
    table = write_table(tmp_path, **columns)
    samples = table_sheet(tmp_path, [row.format(t=table)])
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_table_samples(samples, table_config(**overrides), "s.tsv")
    text = " ".join(str(err.value).split())
    assert problem in text, text
    assert "Fix: " in text


def test_empty_table_and_missing_table_stop_at_startup(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("x_um,y_um,phenotype\n")
    samples = table_sheet(tmp_path, [f"s1\t{empty}\t\t\t"])
    with pytest.raises(FrontlineInputError, match=r"sample 's1'.*has no cells"):
        preflight.check_table_samples(samples, table_config(), "s.tsv")
    samples = table_sheet(tmp_path, [f"s1\t{tmp_path / 'nope.csv'}\t\t\t"])
    with pytest.raises(FrontlineInputError, match=r"the cell table '.*nope.csv' does not exist"):
        preflight.check_sample_files(samples, table_config(), "s.tsv")


def test_table_sample_with_truth_and_image_sample_without_tree_stop(tmp_path):
    table = write_table(tmp_path, x_um=[1.0], y_um=[2.0], phenotype=["CD8_T"])
    samples = table_sheet(tmp_path, [f"s1\t{table}\tsim/s1"], header="sample\tcells\ttruth")
    with pytest.raises(FrontlineInputError, match=r"sample 's1'.*has a `truth` column"):
        preflight.check_table_samples(samples, table_config(), "s.tsv")
    mixed = table_sheet(
        tmp_path, [f"s1\t{table}\t", "img\t\tx.ome.tif"], header="sample\tcells\timage"
    )
    with pytest.raises(FrontlineInputError, match=r"sample 'img'.*defines no phenotype tree"):
        preflight.check_table_samples(mixed, table_config(), "s.tsv")
