"""frontline.io.celltables: one cell table read alike from CSV, TSV, TXT, .gz and Parquet."""

import gzip

import numpy as np
import pandas as pd
import pytest

from frontline.errors import FrontlineInputError
from frontline.io import read_cell_table, read_table_header

TABLE = pd.DataFrame(
    {
        "Cell ID": [1, 2, 3],
        "x_um": [1.5, 2.5, 3.5],
        "y_um": [4.0, 5.0, 6.0],
        "phenotype": ["tumor", "CD8_T", "B, naive"],  # a comma inside a name
    }
)


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.txt", "t.csv.gz", "t.TXT", "t.parquet"])
def test_every_suffix_reads_the_same_table(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        TABLE.to_parquet(path)
    else:
        sep = "," if ".csv" in name else "\t"
        text = TABLE.to_csv(sep=sep, index=False)
        if name.endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            path.write_text(text, encoding="utf-8")
    assert read_table_header(path) == ["Cell ID", "x_um", "y_um", "phenotype"]
    pd.testing.assert_frame_equal(read_cell_table(path), TABLE)
    subset = read_cell_table(path, columns=["x_um", "phenotype"])
    assert subset.columns.tolist() == ["x_um", "phenotype"] and len(subset) == 3


def test_latin1_header_na_values_and_semicolons(tmp_path):
    path = tmp_path / "qupath.csv"
    path.write_bytes("Class;Centroid X \xb5m;v\nTumor;1.5;#N/A\n;2.5;NA\n".encode("latin-1"))
    assert read_table_header(path) == ["Class", "Centroid X µm", "v"]
    table = read_cell_table(path)
    assert table["Centroid X µm"].tolist() == [1.5, 2.5]
    assert table["v"].isna().all() and table["Class"].isna().tolist() == [False, True]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.csv", None, "the cell table does not exist"),
        ("cells.xlsx", b"PK", "'cells.xlsx' is not a cell table file name"),
        ("empty.csv", b"", "the cell table is empty (no header line)"),
        ("noise.csv.gz", b"not gzip at all", "the cell table cannot be read"),
    ],
)
def test_unreadable_tables_name_the_file_and_the_fix(tmp_path, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FrontlineInputError) as err:
        read_cell_table(path, sample="s1")
    text = str(err.value)
    assert problem in text and f"file '{path}'" in text and "sample 's1'" in text
    assert "Fix: " in text


def test_big_table_subset_reads_only_the_columns_asked_for(tmp_path):
    n = 50_000
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.random((n, 20)), columns=[f"m{i}_cell_mean" for i in range(20)])
    table.insert(0, "x_um", rng.random(n) * 1000)
    table.insert(1, "y_um", rng.random(n) * 1000)
    path = tmp_path / "big.csv"
    table.to_csv(path, index=False)
    subset = read_cell_table(path, columns=["x_um", "y_um"])
    assert subset.shape == (n, 2)
    np.testing.assert_allclose(subset["x_um"], table["x_um"])
