"""Checking and joining the per-cell tables (frontline.tables)."""

import pandas as pd
import pytest

from frontline import tables
from frontline.errors import FrontlineInputError


def test_join_phenotypes_refuses_tables_of_different_cells():
    cells = pd.DataFrame({"cell_id": [1, 2, 3], "x_um": [1.0, 2, 3], "y_um": [1.0, 2, 3]})
    phen = pd.DataFrame(
        {
            "cell_id": [3, 1, 2],
            "phenotype": ["tumor", "CD8_T", "other"],
            "CD8_positive": [False, True, False],
        }
    )
    joined = tables.join_phenotypes(cells, phen)
    assert joined["phenotype"].tolist() == ["CD8_T", "other", "tumor"]
    assert joined["CD8_positive"].tolist() == [True, False, False]
    with pytest.raises(FrontlineInputError, match="different cells"):
        tables.join_phenotypes(cells, phen.iloc[:2], sample="s", files=("c.parquet", "p.parquet"))


def test_a_missing_column_names_the_file():
    cells = pd.DataFrame({"cell_id": [1], "x_um": [1.0]})
    phen = pd.DataFrame({"cell_id": [1], "phenotype": ["tumor"]})
    with pytest.raises(FrontlineInputError, match=r"\['y_um'\]") as err:
        tables.join_phenotypes(cells, phen, sample="s", files=("c.parquet", "p.parquet"))
    assert "c.parquet" in str(err.value)
