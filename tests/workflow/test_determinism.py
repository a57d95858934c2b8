"""Same inputs, same outputs: one core or two, the tables are identical.

``demo_run`` runs with ``--cores 2``; ``resumed_run`` runs the same image with ``--cores 1``
(under another sample name, and interrupted once: see test_interrupt.py). Hashes are of table
contents (columns, dtypes, values) and of label pixels, not of file bytes, so metadata such as
creation times in Parquet or TIFF headers can neither hide nor fake a difference.
"""

import pytest
from runs import DEMO_SAMPLE, ODD_SAMPLE, result_fingerprint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_one_core_and_two_cores_give_identical_results(demo_run, resumed_run):
    print(
        f"\n--cores 2: {demo_run['seconds']:.0f} s; --cores 1 (with a restart): "
        f"{resumed_run['seconds']:.0f} s"
    )
    two = result_fingerprint(demo_run["dir"], DEMO_SAMPLE)
    one = result_fingerprint(resumed_run["dir"], ODD_SAMPLE)
    for name in two:
        assert one[name] == two[name], name
