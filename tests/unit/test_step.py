"""The script harness (frontline.step): a step's output to its log, our warnings to the console."""

import logging
import os
from types import SimpleNamespace

import pytest

from frontline import step
from frontline.errors import FrontlineInputError


class Wildcards(dict):
    """Like Snakemake's wildcards: names with values."""


def _smk(tmp_path, **kw):
    out = tmp_path / "out.txt"
    return SimpleNamespace(
        log=[str(tmp_path / "logs" / "rule" / "s1.log")],
        output=[str(out)],
        wildcards=Wildcards(sample="s1"),
        rule="phenotype",
        **kw,
    )


def test_output_to_sends_file_descriptors_1_and_2_to_the_file(tmp_path, capfd):
    path = tmp_path / "step.log"
    with step.output_to(path) as console:
        os.write(1, b"from C++ on stdout\n")
        os.write(2, b"from C++ on stderr\n")
        console.write("for the person at the console\n")
    os.write(2, b"after the block\n")
    assert path.read_text() == "from C++ on stdout\nfrom C++ on stderr\n"
    captured = capfd.readouterr()
    assert captured.err == "for the person at the console\nafter the block\n"
    assert captured.out == ""


def test_run_logs_everything_and_shows_only_our_warnings_naming_the_sample(tmp_path, capfd):
    def main(smk):
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")  # like TensorFlow
        logging.getLogger("tensorflow").warning("a library's own warning")
        logging.getLogger("frontline.gating").info("gate CD8 (cell): 400")
        logging.getLogger("frontline.gating").warning("marker CD8: no second population")
        open(smk.output[0], "w").write("done")

    smk = _smk(tmp_path)
    step.run(smk, main)
    text = open(smk.log[0]).read()
    for line in ("oneDNN", "a library's own warning", "gate CD8 (cell): 400", "no second pop"):
        assert line in text, text
    console = capfd.readouterr().err
    assert console == (
        "frontline WARNING (rule phenotype, sample 's1'): marker CD8: no second population\n"
    )


def test_run_turns_bad_input_into_one_paragraph_exit_1_and_no_output(tmp_path, capfd):
    def main(smk):
        open(smk.output[0], "w").write("half")
        raise FrontlineInputError("the gate is odd", sample="s1", file="g.tsv", fix="fix it")

    smk = _smk(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        step.run(smk, main)
    assert exit_.value.code == 1
    assert not os.path.exists(smk.output[0])
    console = capfd.readouterr().err
    assert (
        "frontline ERROR (rule phenotype, sample 's1'): sample 's1', file 'g.tsv': the " in console
    )
    assert "Fix: fix it." in open(smk.log[0]).read()
