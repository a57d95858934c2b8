"""Every rule that makes files tells a cluster what it needs: threads, mem_mb, runtime, a log.

Read from the rule files themselves (a static check, no Snakemake run), so a new rule without
them fails here rather than on a cluster that refuses or kills its job.
"""

import re

import pytest
from runs import ROOT

RULES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))


def rule_blocks():
    for path in RULES:
        text = path.read_text(encoding="utf-8")
        for block in re.split(r"^(?=rule \w+:)", text, flags=re.M):
            match = re.match(r"rule (\w+):", block)
            if match and re.search(r"^\s+output:", block, re.M):
                yield pytest.param(block, id=f"{path.stem}:{match.group(1)}")


@pytest.mark.parametrize("block", list(rule_blocks()))
def test_rule_declares_threads_memory_runtime_and_log(block):
    for needed in (r"^\s+threads:", r"\bmem_mb\s*=", r"\bruntime\s*=", r"^\s+log:"):
        assert re.search(needed, block, re.M), needed


def test_big_rules_ask_for_more_memory_on_a_retry():
    """Rules whose memory grows with the image are retried with more (``attempt``)."""
    text = {p.stem: p.read_text(encoding="utf-8") for p in RULES}
    for stem, rule in [
        ("segment", "segment"),
        ("segment", "segment_tile"),
        ("segment", "merge_tiles"),
        ("measure", "measure"),
        ("simulate", "simulate"),
    ]:
        block = re.search(rf"^rule {rule}:.*?(?=^rule |\Z)", text[stem], re.M | re.S).group(0)
        assert re.search(r"mem_mb=lambda[^\n]*attempt", block), rule
