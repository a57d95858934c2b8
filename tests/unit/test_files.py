"""Names and paths that stay inside the working folder (frontline.files)."""

import pytest

from frontline.files import MAX_NAME_LENGTH, name_problem, path_problem


@pytest.mark.parametrize(
    "name", ["demo", "échantillon_1", "Point2203_pt1072_31606", "s-1.b+c", "样本", "x" * 100]
)
def test_good_names(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name, problem",
    [
        ("..", "'..' is the current or the parent folder"),
        (".", "'.' is the current or the parent folder"),
        ("a/b", "it holds a path separator"),
        ("a\\b", "it holds a path separator"),
        ("../../escaped.txt", "it holds a path separator"),
        ("a b", "it holds the character(s) [' ']"),
        ("a*b?", "it holds the character(s) ['*', '?']"),
        (".hidden", "it starts with '.' or '-'"),
        ("-rf", "it starts with '.' or '-'"),
        ("x" * 101, f"it has 101 characters, more than {MAX_NAME_LENGTH}"),
        ("", "it starts with '.' or '-'"),
    ],
)
def test_bad_names(name, problem):
    assert name_problem(name) == problem


def test_file_names_may_hold_spaces_but_no_separator():
    assert name_problem("CD8 membrane.tif", spaces=True) is None
    assert name_problem("../x.tif", spaces=True) == "it holds a path separator"


@pytest.mark.parametrize(
    "path, problem",
    [
        ("data/dcis/fov1", None),
        ("results/simulated", None),
        ("../outside", "it climbs out through '..'"),
        ("a/../../b", "it climbs out through '..'"),
        ("/tmp/x", "it is absolute"),
        ("~/x", "it is absolute"),
        ("C:/data", "it is absolute"),
        ("  ", "it is empty"),
    ],
)
def test_paths_inside_the_working_folder(path, problem):
    found = path_problem(path)
    assert (found is None) if problem is None else found.startswith(problem)
