"""The clinical table: checked against the sheet's patients at start; bad tables stop the run
with the file, problem and fix; patients missing from it drop out with a note."""

import numpy as np
import pandas as pd
import pytest
from cohort_cases import cohort_settings

from frontline import io
from frontline.cohort import check_clinical, check_settings
from frontline.errors import FrontlineInputError
from frontline.sheet import patient_id, patients_of

SETTINGS = cohort_settings(
    clinical="clinical.tsv",
    group="response",
    survival={"time": "os_days", "event": "death"},
    covariates=["age", "stage"],
)


def table(**columns):
    base = {
        "patient": ["p1", "p2", "p3"],
        "os_days": ["100", "250.5", "30"],
        "death": ["1", "0", "1"],
        "response": ["R", "NR", "R"],
        "age": ["61", "70", "55"],
        "stage": ["II", "III", "II"],
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_a_good_table_is_typed_per_role():
    clinical = check_clinical(table(), ["p1", "p2", "p3"], SETTINGS, file="c.tsv")
    t = clinical.table
    assert t.index.tolist() == ["p1", "p2", "p3"]
    assert t["time"].tolist() == [100.0, 250.5, 30.0]
    assert t["event"].tolist() == [1.0, 0.0, 1.0]
    assert t["group"].tolist() == ["R", "NR", "R"]
    assert t["age"].dtype == float and t["stage"].tolist() == ["II", "III", "II"]
    assert clinical.notes == []
    assert clinical.columns == {"group": "response", "time": "os_days", "event": "death"}


def test_patients_missing_from_the_table_drop_out_with_a_note_naming_them():
    clinical = check_clinical(table(), ["p1", "p2", "p3", "p4", "p5"], SETTINGS)
    assert clinical.table.index.tolist() == ["p1", "p2", "p3"]
    assert any("p4, p5" in n and "drop out of the outcome statistics" in n for n in clinical.notes)


def test_unknown_patients_are_an_error_with_the_closest_sheet_patient():
    with pytest.raises(FrontlineInputError) as err:
        check_clinical(table(patient=["p1", "p2", "P_3"]), ["p1", "p2", "p3"], SETTINGS, "c.tsv")
    text = str(err.value)
    assert "P_3" in text and "no sample of the sheet" in text and "c.tsv" in text
    assert "closest sheet patient" in text


def test_missing_columns_are_listed_with_the_columns_found():
    with pytest.raises(FrontlineInputError) as err:
        check_clinical(table().drop(columns=["death"]), ["p1", "p2", "p3"], SETTINGS, "c.tsv")
    assert "'death'" in str(err.value) and "os_days" in str(err.value)
    settings = cohort_settings(**{**SETTINGS, "patient_column": "patient_id"})
    with pytest.raises(FrontlineInputError, match="'patient_id' \\(closest: 'patient'\\)"):
        check_clinical(table(), ["p1"], settings)


@pytest.mark.parametrize("value", ["soon", "-5", "1e3x"])
def test_a_time_that_is_not_a_number_from_zero_up_is_an_error(value):
    with pytest.raises(FrontlineInputError, match="not numbers >= 0") as err:
        check_clinical(table(os_days=["100", value, "30"]), ["p1", "p2", "p3"], SETTINGS)
    assert f"patient p2: '{value}'" in str(err.value)


@pytest.mark.parametrize("value", ["2", "yes", "0.5"])
def test_an_event_other_than_0_or_1_is_an_error(value):
    with pytest.raises(FrontlineInputError, match="other than 0 and 1") as err:
        check_clinical(table(death=["1", value, "0"]), ["p1", "p2", "p3"], SETTINGS)
    assert "1 for an event" in err.value.fix


def test_empty_cells_are_missing_and_those_patients_drop_out_of_that_statistic_with_a_note():
    clinical = check_clinical(
        table(os_days=["100", "NA", "30"], response=["R", "", "NR"], age=["61", "70", "#N/A"]),
        ["p1", "p2", "p3"],
        SETTINGS,
    )
    t = clinical.table
    assert np.isnan(t.at["p2", "time"]) and pd.isna(t.at["p2", "group"])
    assert np.isnan(t.at["p3", "age"])
    notes = " | ".join(clinical.notes)
    assert "no survival value" in notes and "no response value" in notes and "'age'" in notes


def test_duplicate_patients_that_disagree_are_an_error_repeats_that_agree_count_once():
    rows = pd.concat([table(), table().iloc[[1]]], ignore_index=True)
    clinical = check_clinical(rows, ["p1", "p2", "p3"], SETTINGS)
    assert clinical.table.index.tolist() == ["p1", "p2", "p3"]
    assert "4 rows for 3 patients" in clinical.notes[0]
    rows.loc[3, "os_days"] = "999"
    with pytest.raises(FrontlineInputError, match="p2 have several rows that disagree") as err:
        check_clinical(rows, ["p1", "p2", "p3"], SETTINGS)
    assert "['os_days']" in str(err.value)


def test_a_row_without_a_patient_is_an_error():
    with pytest.raises(FrontlineInputError, match="row\\(s\\) 3 of the clinical table"):
        check_clinical(table(patient=["p1", " ", "p3"]), ["p1", "p3"], SETTINGS)


def test_numeric_patient_names_match_across_sheet_and_table():
    assert patient_id("2.0") == "2" and patient_id(" 17 ") == "17" and patient_id("2.5") == "2.5"
    clinical = check_clinical(table(patient=["1.0", "2.0", "3.0"]), ["1", "2", "3"], SETTINGS)
    assert clinical.table.index.tolist() == ["1", "2", "3"]


def test_the_settings_need_a_clinical_table_and_both_survival_columns():
    with pytest.raises(FrontlineInputError, match="event column"):
        check_settings(cohort_settings(clinical="c.tsv", survival={"time": "os", "event": None}))
    with pytest.raises(FrontlineInputError, match="no clinical table"):
        check_settings(cohort_settings(group="response"))
    check_settings(cohort_settings())  # no clinical table, nothing asked of it: fine


def test_the_sheet_patient_defaults_to_the_sample():
    sheet = pd.DataFrame({"sample": ["a", "b", "c"], "patient": ["P1", "", "P1"]})
    assert patients_of(sheet) == {"a": "P1", "b": "b", "c": "P1"}
    assert patients_of(pd.DataFrame({"sample": ["x"]})) == {"x": "x"}


def test_tables_are_read_as_text_by_their_suffix(tmp_path):
    tsv, csv = tmp_path / "c.tsv", tmp_path / "c.csv.gz"
    table().to_csv(tsv, sep="\t", index=False)
    table().to_csv(csv, index=False)
    for path in (tsv, csv):
        back = io.read_text_table(path, columns=["patient", "os_days"])
        assert back.columns.tolist() == ["patient", "os_days"]
        assert back["os_days"].tolist() == ["100", "250.5", "30"]
    with pytest.raises(FrontlineInputError, match="does not exist"):
        io.read_text_table(tmp_path / "absent.tsv", what="the clinical table")


def test_preflight_reads_the_clinical_table_and_checks_it_against_the_sheet(tmp_path):
    from frontline import config, preflight

    path = tmp_path / "clinical.csv"
    table().to_csv(path, index=False)
    sheet = pd.DataFrame({"sample": ["a", "b", "c"], "patient": ["p1", "p2", "p3"]})
    settings = config.fill_defaults(
        {"samples": "s.tsv", "cohort": {**SETTINGS, "clinical": str(path)}}
    )
    preflight.check_cohort(sheet, settings)  # a good table: no error
    with pytest.raises(FrontlineInputError, match="no sample of the sheet has: p3") as err:
        preflight.check_cohort(sheet.iloc[:2], settings)
    assert str(path) in str(err.value)
    preflight.check_cohort(sheet, config.fill_defaults({"samples": "s.tsv"}))  # no cohort: fine
