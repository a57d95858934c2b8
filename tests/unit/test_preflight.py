"""frontline.preflight: config and sample-sheet problems caught before any job runs."""

import copy
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
def test_schema_message_names_key_value_and_fix(config, section, key, value, expected, tmp_path):
    config[section][key] = value
    mine = tmp_path / "my.yaml"
    mine.write_text(yaml.safe_dump({section: {key: value}}), encoding="utf-8")
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_schema(config, SCHEMA, [tmp_path / "base.yaml", mine])
    text = err.value.message()
    assert expected in text
    assert f"file '{mine}'" in text and "Fix: set `" in text  # the file that sets the key


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
    with pytest.raises(FrontlineInputError, match=r"asks for channel\(s\) \['CD3'\]"):
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


# ------------------------------------------------------------------------- where values come from

MINIMAL = {  # the whole config of a three-channel panel (config/examples/small_panel.yaml)
    "samples": "my/samples.tsv",
    "segmentation": {"nuclear_channel": "DAPI"},
    "phenotyping": {
        "exclusive": [["tumor", "CD8_T"]],
        "phenotypes": {"tumor": {"positive": ["CK_EPCAM"]}, "CD8_T": {"positive": ["CD8a"]}},
    },
    "spatial": {"immune_types": ["CD8_T"], "call": {"phenotype": "CD8_T"}},
}


def _user_config(tmp_path, content, name="my.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def test_origin_names_the_file_the_command_line_or_the_schema_default(tmp_path):
    base = _user_config(tmp_path, {"spatial": {"margin_um": 50.0}}, "base.yaml")
    mine = _user_config(tmp_path, {"spatial": {"margin_um": 80.0, "seed": 3}})
    origin = preflight.Origin([base, mine], {"report": {"dpi": 100}})
    assert origin.source("spatial.margin_um") == str(mine)  # the later file wins
    assert origin.source(["spatial", "seed"]) == str(mine)
    assert origin.source("report.dpi") == "--config"
    assert origin.is_default("front.tumor_phenotype") and not origin.is_default("spatial.seed")
    assert origin.describe("front.tumor_phenotype") == (
        f"`front.tumor_phenotype` (the schema default: {base} + {mine} does not set it)"
    )
    assert origin.where_to_set("front.tumor_phenotype", "CK") == (
        f"add `front: {{tumor_phenotype: CK}}` to {base} + {mine}"
    )
    assert origin.where_to_set("spatial.seed") == f"change `spatial.seed` in {mine}"
    assert origin.where_to_set("report.dpi") == "change `report.dpi` in the --config option"
    assert origin.file("front.tumor_phenotype") == f"{base} + {mine}"


@pytest.mark.parametrize(
    "key, example",
    [
        ("phenotyping.exclusive", "phenotyping: {exclusive: [[tumor, CD8_T]]}"),
        ("spatial.immune_types", "spatial: {immune_types: [CD8_T]}"),
        ("spatial.call", "spatial: {call: {phenotype: CD8_T}}"),
    ],
)
def test_a_key_without_default_is_required_with_an_example_from_the_panel(key, example, tmp_path):
    content = copy.deepcopy(MINIMAL)
    section, name = key.split(".")
    del content[section][name]
    mine = _user_config(tmp_path, content)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_required(fill_defaults(content), [mine])
    text = err.value.message()
    assert f"file '{mine}'" in text and "is not set, and it has no default" in text, text
    assert f"Fix: add `{example}` to {mine} (your phenotypes: ['tumor', 'CD8_T'])" in text, text


def test_no_phenotype_table_is_required_with_an_example(tmp_path):
    content = {"samples": "s.tsv"}
    with pytest.raises(
        FrontlineInputError, match=r"`phenotyping.phenotypes` \(the phenotype table"
    ):
        preflight.check_required(fill_defaults(content), [_user_config(tmp_path, content)])
    preflight.check_required(fill_defaults(MINIMAL), [_user_config(tmp_path, MINIMAL)])


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"spatial": {"call": {"phenotype": "CD8T"}}},
            "`spatial.call.phenotype` (my.yaml) names the phenotype 'CD8T', which the phenotype "
            "table (`phenotyping.phenotypes`) does not define; its phenotypes are ['tumor', "
            "'CD8_T'] (did you mean 'CD8_T'?). Fix: change `spatial.call.phenotype` in my.yaml",
        ),
        (
            {"spatial": {"immune_types": ["CD8_T", "B_cell"]}},
            "`spatial.immune_types` (my.yaml) names the phenotype 'B_cell'",
        ),
        (
            {"phenotyping": {"phenotypes": {"CK": {"positive": ["CK_EPCAM"]}}}},
            "`front.tumor_phenotype` (the schema default: my.yaml does not set it) names the "
            "phenotype 'tumor', which the phenotype table (`phenotyping.phenotypes`) does not "
            "define; its phenotypes are ['CK']. Fix: add `front: {tumor_phenotype: NAME}` to "
            "my.yaml, to one of the phenotypes ['CK'] (the phenotype of your tumour cells)",
        ),
        (
            {"evaluation": {"phenotype_map": {"CD8": "CD8_T", "other": "stromal"}}},
            "`evaluation.phenotype_map` (my.yaml) names the phenotype 'CD8'",
        ),
    ],
)
def test_every_phenotype_a_key_names_is_in_the_table(change, expected, tmp_path, monkeypatch):
    from frontline.config import fill_defaults as fill

    monkeypatch.chdir(tmp_path)
    content = copy.deepcopy(MINIMAL)
    for section, values in change.items():
        content[section] = {**content.get(section, {}), **values}
    if "CK" in str(change):
        content["phenotyping"]["exclusive"] = []
        content["spatial"] = {"immune_types": ["CK"], "call": {"phenotype": "CK"}}
    _user_config(tmp_path, content)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_phenotype_references(fill(content), ["my.yaml"])
    assert expected in " ".join(err.value.message().split()), err.value.message()
    preflight.check_phenotype_references(fill(MINIMAL), ["my.yaml"])


def test_missing_channels_name_their_keys_and_a_default_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content = copy.deepcopy(MINIMAL)
    del content["segmentation"]  # nuclear_channel: the schema default, DAPI
    _user_config(tmp_path, content)
    channels = ["Hoechst", "CK_EPCAM", "CD8A"]
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_markers(
            fill_defaults(content), channels, ["my.yaml"], sample="s1", file="img.tif"
        )
    text = err.value.message()
    assert text.startswith("sample 's1', file 'img.tif': the config asks for channel(s) "), text
    assert "['CD8a', 'DAPI']" in text, text
    assert "'DAPI' in `segmentation.nuclear_channel` (the schema default: my.yaml does not " in text
    assert "'CD8a' in `phenotyping.phenotypes.CD8_T.positive` (my.yaml)" in text, text
    assert "add `segmentation: {nuclear_channel: NAME}` to my.yaml (the image's nuclear " in text
    assert "'CD8a' -> 'CD8A' in my.yaml" in text, text


def test_a_panel_of_its_own_is_never_told_about_the_demos_markers(tmp_path, monkeypatch):
    """The issue's case: a user file that names none of the demo's markers, on an image that has
    none of the demo's channels, gets no message about the demo's markers."""
    monkeypatch.chdir(tmp_path)
    _user_config(tmp_path, MINIMAL)
    config = fill_defaults(MINIMAL)
    preflight.check_config(config, ["my.yaml"])
    preflight.check_markers(config, ["DAPI", "CK_EPCAM", "CD8a"], ["my.yaml"])
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_markers(config, ["DAPI", "PDL1", "CD8a"], ["my.yaml"])
    text = err.value.message()
    assert "['CK_EPCAM']" in text
    for demo_marker in ("PanCK", "CD45", "CD3", "'CD8'", "CD20", "CD68", "MPO"):
        assert demo_marker not in text, text


# --------------------------------------------------------------------------- gates tables


def _gates_sheet(tmp_path, text):
    (tmp_path / "g.tsv").write_text(text, encoding="utf-8")
    return pd.DataFrame({"image": ["a.tif", "a.tif"], "gates": ["g.tsv", ""]}, index=["s1", "s2"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("marker\tgate\nCD8\t400\n", "sets a gate for 'CD8', a marker the config does not gate "),
        ("marker\tgate\nCD8a\thigh\n", "the gate for marker 'CD8a' is 'high', neither 'auto' nor"),
        ("marker\tgate\tsample\nCD8a\t4\ts3\n", "names the sample(s) ['s3'], which the sample"),
        ("marker\tcompartment\tgate\nCD8a\tnucleus\t4\n", "the gate for 'CD8a' is for its nucleus"),
        ("marker\tvalue\nCD8a\t4\n", "lacks the column(s) ['gate']; it has ['marker', 'value']"),
        ("marker\tgate\nCD8a\t4\nCD8a\t5\n", "sets the gate for 'CD8a' twice"),
    ],
)
def test_gates_tables_are_checked_at_startup(text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sheet = _gates_sheet(tmp_path, text)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_gates_tables(sheet, fill_defaults(MINIMAL), "sheet.tsv")
    text = err.value.message()
    assert text.startswith("sample 's1', file 'g.tsv': ") and expected in text, text


def test_a_copied_gates_tsv_passes_and_a_missing_table_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copied = (
        "marker\tcompartment\tgate\tmethod\tconfidence\tn_positive\tfraction_positive\tcofactor\n"
        "CK_EPCAM\tcell\t232.9\tgmm\t0.88\t122\t0.33\t184.5\nCD8a\tcell\t\tundefined\t0\t0\t0\t1\n"
    )
    preflight.check_gates_tables(_gates_sheet(tmp_path, copied), fill_defaults(MINIMAL), "s.tsv")
    missing = pd.DataFrame({"image": ["a.tif"], "gates": ["none.tsv"]}, index=["s1"])
    with pytest.raises(FrontlineInputError, match="the gates table 'none.tsv' does not exist"):
        preflight.check_gates_tables(missing, fill_defaults(MINIMAL), "s.tsv")


# ------------------------------------------------------------------- paths, ranges, pixels


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {
                "download": {
                    "folders": {"dl/f": {"url": "https://x.org", "files": {"../e.txt": {}}}}
                }
            },
            "`download.folders.dl/f.files` (my.yaml) gives the name or path '../e.txt', which a "
            "rule would write to, but it holds a path separator",
        ),
        (
            {"download": {"files": {"/tmp/a.tif": {"url": "https://x.org/a.tif"}}}},
            "gives the name or path '/tmp/a.tif', which a rule would write to, but it is absolute",
        ),
        ({"simulate": {"outdir": "../sim"}}, "but it climbs out through '..'"),
        ({"simulate": {"samples": {"a b": {"preset": "desert", "seed": 1}}}}, "the character(s)"),
        ({"training": {"name": "."}}, "'.' is the current or the parent folder"),
    ],
)
def test_names_and_paths_rules_write_to_stay_inside(change, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _user_config(tmp_path, change)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_paths(fill_defaults(change), ["my.yaml"])
    assert expected in err.value.message() and "Fix: use a relative path" in err.value.message()
    preflight.check_paths(
        fill_defaults({"download": {"folders": {"dl/f": {"files": {"a.tif": {}}}}}})
    )


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"spatial": {"band_range_um": [100, -100]}}, "the first band edge (100) must be smaller"),
        ({"spatial": {"band_range_um": [0, 10], "band_width_um": 25}}, "densities.tsv would have"),
        ({"segmentation": {"norm_percentiles": [99, 1]}}, "the low percentile (99) must be"),
        ({"training": {"norm_percentiles": [5, 5]}}, "`training.norm_percentiles`"),
        ({"spatial": {"radii_um": [50, 25]}}, "the radii must rise, each once"),
        ({"spatial": {"lfunction_radii_um": [10, 10]}}, "the radii must rise, each once"),
        ({"pixel_size_um": 0.01}, "(from the config's pixel_size_um) is implausible"),
        ({"simulate": {"pixel_size_um": 8}}, "(from the config's simulate.pixel_size_um)"),
        ({"segmentation": {"model_pixel_size_um": 50}}, "segmentation.model_pixel_size_um"),
    ],
)
def test_settings_that_do_not_fit_together(change, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _user_config(tmp_path, change)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_ranges(fill_defaults(change), ["my.yaml"])
    text = err.value.message()
    assert text.startswith("file 'my.yaml': ") and expected in text and "Fix: " in text, text
    preflight.check_ranges(fill_defaults({}), ["my.yaml"])


def test_nan_and_inf_pixels_are_found_in_the_startup_sample():
    from frontline.io import ArrayImage

    planes = np.ones((2, 2048, 2048), np.float32)
    planes[1, 1200:1300, 1200:1300] = np.nan  # inside one of the 16 sample windows
    planes[1, 1250, 1210:1220] = np.inf
    planes[0, :10, :10] = np.nan  # outside every sample window: the rules find it
    img = ArrayImage(planes, ["DAPI", "CD8"], 0.5)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_pixel_values(img, sample="s1", file="a.tif")
    text = err.value.message()
    assert (
        "in 1 channel(s), as shares of 16 sample window(s) each: 'CD8' 0.954% (9990 NaN, 10 "
        in text
    )
    assert "Fix: replace the NaN or infinite pixels" in text
    integers = np.ones((2, 2048, 2048), np.uint16)  # integer pixels: always finite, not read
    preflight.check_pixel_values(ArrayImage(integers, ["DAPI", "CD8"], 0.5))


def test_a_rescale_to_the_model_beyond_ten_times_is_refused():
    from frontline.segment import check_rescale

    check_rescale(0.25, 0.5)
    with pytest.raises(
        FrontlineInputError, match=r"rescale the image x0.05 \(0.05 µm per pixel from"
    ):
        check_rescale(0.05, 1.0, image_from="the sheet", model_from="frontline.json")


def test_exclusive_compartments_name_gated_markers_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content = copy.deepcopy(MINIMAL)
    content["phenotyping"]["exclusive_compartments"] = {"PanCK": "nucleus"}  # the demo's
    _user_config(tmp_path, content)
    with pytest.raises(FrontlineInputError) as err:
        preflight.check_exclusive_compartments(fill_defaults(content)["phenotyping"], ["my.yaml"])
    assert (
        "`phenotyping.exclusive_compartments` (my.yaml) names the marker 'PanCK', which no "
        "phenotype and no gate uses, so it settles nothing; the gated markers are "
        "['CK_EPCAM', 'CD8a']" in err.value.message()
    )
    content["phenotyping"]["exclusive_compartments"] = {"CK_EPCAM": "nucleus"}
    preflight.check_exclusive_compartments(fill_defaults(content)["phenotyping"], ["my.yaml"])


def test_a_real_float_image_passes_the_startup_pixel_sample(shared_data):
    """inForm component data (float32, 5 fluors): finite everywhere, its pixel size named."""
    from frontline.io import open_image

    path = next((shared_data / "inform_fihc4").glob("*_component_data.tif"))
    with open_image(path, "fihc4") as img:
        assert img.dtype == np.float32
        assert img.pixel_size_um == pytest.approx(0.497, abs=0.001)
        assert img.pixel_size_from == "the file's TIFF resolution tags"
        preflight.check_pixel_values(img, sample="fihc4", file=str(path))
