"""frontline.celltables: each format's columns into the cells.parquet / phenotypes.parquet forms,
and every bad input of a cell table as one clear error."""

import numpy as np
import pandas as pd
import pytest

from frontline import celltables, config
from frontline.errors import FrontlineInputError

SETTINGS = config.section("cell_tables")


def normalise(raw, fmt="generic", **kw):
    settings = {**SETTINGS, **kw.pop("settings", {})}
    return celltables.normalise_cell_table(raw, fmt, settings, sample="s1", file="t.csv", **kw)


def generic(n=6, **extra):
    return pd.DataFrame(
        {
            "x_um": np.linspace(10.0, 60.0, n),
            "y_um": np.linspace(5.0, 30.0, n),
            "phenotype": (["Tumor", "CD8T", "Macrophage"] * n)[:n],
            **extra,
        }
    )


# --------------------------------------------------------------------------- generic


def test_generic_minimal_form_gets_ids_and_keeps_unmapped_names():
    out = normalise(generic(), settings={"phenotype_map": {"Tumor": "tumor", "CD8T": "CD8_T"}})
    assert out.cells.columns.tolist() == ["cell_id", "x_um", "y_um"]
    assert out.cells["cell_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert out.cells["x_um"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert out.phenotypes["phenotype"].tolist() == ["tumor", "CD8_T", "Macrophage"] * 2
    assert out.layout.phenotypes == celltables.FROM_TABLE


def test_generic_pixels_need_a_pixel_size_and_count_pixels_by_index():
    raw = pd.DataFrame({"x_px": [0.0, 10.0], "y_px": [4.0, 2.0], "phenotype": ["a", "b"]})
    with pytest.raises(FrontlineInputError) as err:
        normalise(raw)
    text = str(err.value)
    assert "sample 's1', file 't.csv'" in text
    assert "positions are in pixels" in text and "pixel_size_um" in text
    out = normalise(raw, pixel_size_um=0.5)
    assert out.cells["x_um"].tolist() == [0.25, 5.25]  # (px + 0.5) x 0.5 µm
    assert out.cells["y_um"].tolist() == [2.25, 1.25]


def test_generic_without_phenotype_lists_the_columns_found_and_expected():
    raw = pd.DataFrame({"x_um": [1.0], "y_um": [2.0], "celltype": ["T"]})
    with pytest.raises(FrontlineInputError) as err:
        normalise(raw)
    text = str(err.value)
    assert "no phenotype column" in text and "['x_um', 'y_um', 'celltype']" in text
    assert "x_um, y_um" in text and "cell_tables.columns" in text
    out = normalise(raw, settings={"columns": {"celltype": "phenotype"}})  # after a rename
    assert out.phenotypes["phenotype"].tolist() == ["T"]


def test_generic_missing_coordinates_name_the_format_expected():
    raw = pd.DataFrame({"X": [1.0], "Y": [2.0], "phenotype": ["T"]})
    with pytest.raises(FrontlineInputError, match=r"lacks the position columns of cells_format"):
        normalise(raw)


def test_generic_intensities_only_are_left_to_gating():
    raw = pd.DataFrame(
        {
            "x_um": [1.0, 2.0],
            "y_um": [1.0, 2.0],
            "CD8_cell_mean": [0.1, 5.0],
            "CD8_ring_mean": [0, 1],
        }
    )
    out = normalise(raw)
    assert out.phenotypes is None and out.layout.phenotypes == celltables.FROM_GATING
    assert out.cells["CD8_cell_mean"].tolist() == [0.1, 5.0]
    assert celltables.phenotype_source(list(raw.columns), "generic") == "gating"


def test_generic_flags_are_phenotyped_by_the_tree_and_states_kept():
    raw = pd.DataFrame(
        {
            "x_um": [1.0, 2.0, 3.0, 4.0],
            "y_um": [1.0, 2.0, 3.0, 4.0],
            "CK_positive": ["CK+", "CK-", "CK-", "CK-"],
            "CD8_positive": [0, 1, 1, 0],
            "PD1_positive": [False, True, False, False],
            "activated": ["true", "false", "true", "false"],
            "note": ["x", "y", "z", "w"],
        }
    )
    tree = {
        "phenotypes": {
            "tumor": {"positive": ["CK"]},
            "CD8_T": {"positive": ["CD8"]},
            "CD8_PD1": {"parent": "CD8_T", "positive": ["PD1"]},
        }
    }
    out = normalise(raw, phenotyping=tree)
    assert out.phenotypes["phenotype"].tolist() == ["tumor", "CD8_PD1", "CD8_T", "other"]
    assert out.phenotypes["CD8_positive"].tolist() == [False, True, True, False]
    assert out.cells["activated"].tolist() == [True, False, True, False]
    assert "note" not in out.cells  # text columns other than tissue_class are left out


def test_flags_without_a_tree_or_with_unknown_markers_fail_clearly():
    raw = pd.DataFrame({"x_um": [1.0], "y_um": [1.0], "CD8_positive": [1]})
    with pytest.raises(FrontlineInputError, match=r"defines no phenotype tree"):
        normalise(raw, phenotyping={"phenotypes": None})
    with pytest.raises(
        FrontlineInputError, match=r"marker\(s\) \['CD3'\] .* flags are for \['CD8'\]"
    ):
        normalise(raw, phenotyping={"phenotypes": {"T": {"positive": ["CD3"]}}})


@pytest.mark.parametrize(
    ("column", "values", "problem"),
    [
        ("x_um", [1.0, np.nan, 3.0], r"1 of 3 cells have no position .* table rows \[3\]"),
        ("y_um", [1.0, -2.0, 3.0], r"1 cells have negative positions"),
        ("x_um", ["1", "a", "3"], r"holds text where numbers belong"),
        ("cell_id", [7, 8, 7], r"1 cell id\(s\) occur more than once in 'cell_id' \(e.g. \[7\]\)"),
        ("cell_id", [1.5, 2, 3], r"no integers"),
    ],
)
def test_bad_rows_stop_with_the_problem_and_a_fix(column, values, problem):
    raw = generic(3)
    raw[column] = values
    with pytest.raises(FrontlineInputError, match=problem) as err:
        normalise(raw)
    assert "Fix: " in str(err.value) and "sample 's1'" in str(err.value)


def test_empty_table_stops():
    with pytest.raises(FrontlineInputError, match=r"has no cells \(a header and no rows\)"):
        normalise(generic(0))


def test_all_empty_phenotype_column_stops_with_the_rename_fix():
    raw = generic(3)
    raw["phenotype"] = np.nan
    with pytest.raises(FrontlineInputError, match=r"'phenotype' is empty in every row") as err:
        normalise(raw)
    assert "rename it away" in str(err.value)
    raw["phenotype"] = ["a", None, "b"]
    assert normalise(raw).phenotypes["phenotype"].tolist() == ["a", "other", "b"]


# --------------------------------------------------------------------------- rows


def test_rows_of_one_sample_in_a_file_of_many():
    raw = pd.concat([generic(3).assign(patient=1.0), generic(2).assign(patient=2.0)])
    out = normalise(raw, rows=celltables.parse_rows("patient=2", "s1"))
    assert len(out.cells) == 2 and out.cells["cell_id"].tolist() == [1, 2]
    assert celltables.parse_rows("patient", "7") == ("patient", "7")
    assert celltables.parse_rows("", "7") is None
    with pytest.raises(FrontlineInputError, match=r"no row of the cell table has patient = '3'"):
        normalise(raw, rows=("patient", "3"))
    with pytest.raises(FrontlineInputError, match=r"names the column 'image'"):
        normalise(raw, rows=("image", "3"))


def test_duplicate_ids_in_a_merged_table_point_to_cells_rows():
    raw = pd.concat([generic(3).assign(cell_id=[1, 2, 3], slide="a")] * 2)
    with pytest.raises(FrontlineInputError, match=r"occur more than once") as err:
        normalise(raw)
    assert "cells_rows" in str(err.value)
    assert len(normalise(raw.iloc[:3]).cells) == 3


# --------------------------------------------------------------------------- formats


def test_a_header_of_another_format_is_named():
    raw = pd.DataFrame({"XMin": [1], "XMax": [3], "YMin": [1], "YMax": [3], "x": [1]})
    with pytest.raises(FrontlineInputError) as err:
        normalise(raw, "generic")
    assert "do not fit cells_format 'generic'" in str(err.value)
    assert "they look like 'halo'" in str(err.value)
    assert "set the sheet's `cells_format` to halo" in str(err.value)
    assert celltables.detect_formats(["X_centroid", "Y_centroid", "CellID"]) == ["mcmicro"]
    assert celltables.detect_formats(["Cell X Position", "Cell Y Position"]) == ["inform"]
    assert celltables.detect_formats(["Centroid X µm", "Centroid Y µm"]) == ["qupath"]


def _halo(mangled: bool) -> pd.DataFrame:
    """A HALO object export of four cells, in HALO's own headers or R's mangled ones."""
    own = {
        "Image Location": ["core.tif"] * 4,
        "Object Id": [0, 1, 2, 3],
        "XMin": [10, 20, 30, 40],
        "XMax": [20, 30, 40, 50],
        "YMin": [100, 100, 110, 120],
        "YMax": [110, 112, 118, 130],
        "CD3 (Opal 570) Positive": [0, 1, 1, 0],
        "CD3 (Opal 570) Positive Nucleus": [0, 1, 1, 0],
        "CD3 (Opal 570) Nucleus Intensity": [0.1, 2.0, 1.5, 0.2],
        "CD3 (Opal 570) Cytoplasm Intensity": [0.3, 4.0, 3.0, 0.1],
        "PD-L1 (Opal 540) Positive": [1, 0, 0, 0],
        "Nuclei (DAPI) Positive": [1, 1, 1, 1],
        "Cell Area (µm²)": [40.0, 30.0, 20.0, 40.0],
        "Nucleus Area (µm²)": [10.0, 15.0, 10.0, 20.0],
        "CD3+ CD8+": [0, 0, 1, 0],
        "Classifier Label": ["Tumor", "Tumor", "Stroma", "Stroma"],
    }
    table = pd.DataFrame(own)
    if mangled:  # what R's read.csv makes of the header (make.names)
        table.columns = [
            "".join(ch if ch.isalnum() or ch == "_" else "." for ch in c) for c in table.columns
        ]
    return table


HALO_TREE = {
    "phenotypes": {
        "tumor": {"positive": ["tissue_class=Tumor"], "negative": ["CD3"]},
        "T_cell": {"positive": ["CD3"]},
        "PDL1_tumor": {"parent": "tumor", "positive": ["PDL1"]},
    }
}


def test_halo_own_and_mangled_headers_give_the_same_cells():
    own = normalise(_halo(False), "halo", pixel_size_um=0.5, phenotyping=HALO_TREE)
    mangled = normalise(_halo(True), "halo", pixel_size_um=0.5, phenotyping=HALO_TREE)
    pd.testing.assert_frame_equal(own.cells, mangled.cells)
    pd.testing.assert_frame_equal(own.phenotypes, mangled.phenotypes)
    cells = own.cells
    assert cells["cell_id"].tolist() == [0, 1, 2, 3]
    # centre of the box as a pixel index, (px + 0.5) x 0.5 µm
    assert cells["x_um"].tolist() == [7.75, 12.75, 17.75, 22.75]
    assert cells["y_um"].tolist() == [52.75, 53.25, 57.25, 62.75]
    assert cells["tissue_class"].tolist() == ["Tumor", "Tumor", "Stroma", "Stroma"]
    assert cells["CD3_nucleus_mean"].tolist() == [0.1, 2.0, 1.5, 0.2]
    assert cells["CD3_ring_mean"].tolist() == [0.3, 4.0, 3.0, 0.1]
    # no Cell Intensity: the cell mean is weighted by nucleus and cytoplasm area
    assert cells["CD3_cell_mean"].tolist() == pytest.approx([0.25, 3.0, 2.25, 0.15])
    assert own.phenotypes["phenotype"].tolist() == ["PDL1_tumor", "T_cell", "T_cell", "other"]
    assert sorted(c for c in own.phenotypes if c.endswith("_positive")) == [
        "CD3_positive",
        "DAPI_positive",
        "PDL1_positive",
    ]


def test_halo_needs_a_pixel_size_and_a_known_class_column():
    with pytest.raises(FrontlineInputError, match=r"positions are in pixels \(halo format\)"):
        normalise(_halo(False), "halo", phenotyping=HALO_TREE)
    bad = {"phenotypes": {"tumor": {"positive": ["region=Tumor"]}}}
    with pytest.raises(FrontlineInputError, match=r"tests 'region=Tumor'.* no column 'region'"):
        normalise(_halo(False), "halo", pixel_size_um=0.5, phenotyping=bad)


def test_halo_fluor_map_renames_markers_by_fluor():
    out = normalise(
        _halo(True),
        "halo",
        pixel_size_um=0.5,
        fluor_map={"Opal 570": "CD3e"},
        phenotyping={"phenotypes": {"T": {"positive": ["CD3e"]}}},
    )
    assert "CD3e_nucleus_mean" in out.cells and "CD3e_positive" in out.phenotypes


INFORM_MULTI = (
    "Sample Name\tTissue Category\tCell ID\tCell X Position (microns)\tCell Y Position (microns)"
    "\tPhenotype-CD8\tPhenotype-CK\tNucleus CD8 (Opal 520) Mean (Normalized Counts, Total "
    "Weighting)\tEntire Cell CD8 (Opal 520) Mean (Normalized Counts, Total Weighting)\t"
    "Membrane CD8 (Opal 520) Mean (Normalized Counts, Total Weighting)\t"
    "Entire Cell Area (square microns)\n"
    "s.im3\tTumor\t1\t10.5\t20.0\tCD8-\tCK+\t0.5\t0.4\t0.3\t40\n"
    "s.im3\tStroma\t2\t30.0\t25.5\tCD8+\tCK-\t9.0\t8.0\t7.0\t30\n"
    "s.im3\tStroma\t3\t50.0\t40.0\tCD8-\tCK-\t#N/A\t0.2\t0.1\t35\n"
)


def test_inform_multi_schema_flags_microns_and_missing_values(tmp_path):
    from frontline.io import read_cell_table

    path = tmp_path / "x_cell_seg_data.txt"
    path.write_text(INFORM_MULTI, encoding="utf-8")
    tree = {"phenotypes": {"tumor": {"positive": ["CK"]}, "CD8_T": {"positive": ["CD8"]}}}
    out = normalise(read_cell_table(path), "inform", phenotyping=tree)
    cells = out.cells
    assert cells["x_um"].tolist() == [10.5, 30.0, 50.0]  # µm as the header says: no pixel size
    assert cells["cell_id"].tolist() == [1, 2, 3]
    assert cells["tissue_class"].tolist() == ["Tumor", "Stroma", "Stroma"]
    assert cells["CD8_nucleus_mean"].tolist()[:2] == [0.5, 9.0]
    assert np.isnan(cells["CD8_nucleus_mean"].iloc[2])  # #N/A
    assert cells["CD8_cell_mean"].tolist() == [0.4, 8.0, 0.2]
    assert cells["cell_area_um2"].tolist() == [40, 30, 35]
    assert not any("membrane" in c for c in cells.columns)
    assert out.phenotypes["phenotype"].tolist() == ["tumor", "CD8_T", "other"]


QUPATH = (
    "Image\tName\tClass\tParent\tROI\tCentroid X µm\tCentroid Y µm\tNucleus: Area µm^2\t"
    "Cell: Area µm^2\tDAPI: Nucleus: Mean\tCD8: Cytoplasm: Mean\tCD8: Cell: Mean\t"
    "CD8: Membrane: Mean\n"
    "slide.tif\tPathCellObject\tTumor\tAnnotation\tPolygon\t100.25\t200.5\t30.1\t80.2\t5.1\t0.2\t0.3"
    "\t0.4\n"
    "slide.tif\tPathCellObject\tCD8\tAnnotation\tPolygon\t110.0\t190.0\t20.0\t50.0\t4.0\t3.0\t2.5"
    "\t2.0\n"
    "slide.tif\tPathCellObject\t\tAnnotation\tPolygon\t120.0\t180.0\t25.0\t60.0\t4.5\t0.1\t0.1\t0.1"
    "\n"
)


def test_qupath_detection_export(tmp_path):
    from frontline.io import read_cell_table

    path = tmp_path / "measurements.tsv"
    path.write_text(QUPATH, encoding="utf-8")
    out = normalise(read_cell_table(path), "qupath", settings={"phenotype_map": {"CD8": "CD8_T"}})
    cells = out.cells
    assert cells["x_um"].tolist() == [100.25, 110.0, 120.0]
    assert cells["nucleus_area_um2"].tolist() == [30.1, 20.0, 25.0]
    assert cells["DAPI_nucleus_mean"].tolist() == [5.1, 4.0, 4.5]
    assert cells["CD8_ring_mean"].tolist() == [0.2, 3.0, 0.1]
    assert cells["CD8_cell_mean"].tolist() == [0.3, 2.5, 0.1]
    assert out.phenotypes["phenotype"].tolist() == ["Tumor", "CD8_T", "other"]


def test_qupath_pixel_centroids_are_continuous_and_old_names_read():
    raw = pd.DataFrame(
        {
            "Class": ["a", "b"],
            "Centroid X px": [10.0, 20.0],
            "Centroid Y px": [4.0, 8.0],
            "Nucleus: CD8 mean": [1.0, 2.0],
        }
    )
    out = normalise(raw, "qupath", pixel_size_um=0.5)
    assert out.cells["x_um"].tolist() == [5.0, 10.0]  # QuPath pixel i spans i..i+1: no +0.5
    assert out.cells["CD8_nucleus_mean"].tolist() == [1.0, 2.0]


def test_mcmicro_quantification_is_gated():
    raw = pd.DataFrame(
        {
            "CellID": [1, 2, 3],
            "Hoechst": [100.0, 120.0, 90.0],
            "CD8_nucleiMask": [1.0, 50.0, 2.0],
            "CD45": [3.0, 80.0, 1.0],
            "X_centroid": [10.0, 20.0, 30.0],
            "Y_centroid": [5.0, 5.0, 5.0],
            "Area": [100, 120, 80],
            "MajorAxisLength": [12.0, 13.0, 11.0],
            "Eccentricity": [0.5, 0.6, 0.4],
            "Solidity": [0.95, 0.9, 0.97],
            "Orientation": [0.1, 0.2, 0.3],
        }
    )
    out = normalise(raw, "mcmicro", pixel_size_um=0.65)
    assert out.phenotypes is None
    cells = out.cells
    assert cells["x_um"].tolist() == pytest.approx([6.825, 13.325, 19.825])
    assert cells["cell_area_um2"].tolist() == pytest.approx([42.25, 50.7, 33.8])
    assert cells["Hoechst_cell_mean"].tolist() == [100.0, 120.0, 90.0]
    assert cells["CD8_nucleus_mean"].tolist() == [1.0, 50.0, 2.0]
    assert cells["eccentricity"].tolist() == [0.5, 0.6, 0.4]
    assert not any("Orientation" in c or "MajorAxis" in c for c in cells.columns)


# --------------------------------------------------------------------------- the field


def test_field_extent_is_one_cell_spacing_beyond_the_farthest_cell():
    x, y = np.meshgrid(np.arange(10.0, 101.0, 10.0), np.arange(5.0, 56.0, 10.0))
    xy = np.column_stack([x.ravel(), y.ravel()])
    assert celltables.cell_spacing_um(xy) == pytest.approx(10.0)
    assert celltables.field_extent_um(xy) == pytest.approx((110.0, 65.0))
