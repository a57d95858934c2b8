"""Shared fixtures: the repository root, the public data folder, a local HTTP server."""

import os
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(os.environ.get("FRONTLINE_SHARED_DATA", ROOT.parent / "shared" / "data"))
# the longest test files (minutes each) first, longest first: pytest-xdist hands out whole
# files in collection order (`--no-loadscope-reorder` in pyproject's addopts; by default it
# would order them by their number of tests), so the workers then finish together instead of
# one running the last long file alone
SLOW_FIRST = (
    "tests/workflow/test_bad_input.py",
    "tests/workflow/test_slurm.py",
    "tests/workflow/test_demo_accuracy.py",
    "tests/workflow/test_interrupt.py",
    "tests/workflow/test_cell_tables.py",
    "tests/workflow/test_own_images.py",
    "tests/workflow/test_field_accuracy.py",
    "tests/workflow/test_vendor_inputs.py",
    "tests/workflow/test_segment_rules.py",
    "tests/unit/test_cohort_lung.py",
    "tests/workflow/test_phenotype_rules.py",
    "tests/workflow/test_inform_real.py",
)


def pytest_collection_modifyitems(items):
    """The files of ``SLOW_FIRST`` first, in that order; the others after, as collected."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def shared_data():
    """The public images folder beside the checkout; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"public data folder {SHARED_DATA} is absent (it sits beside the checkout in CI)"
        )
    return SHARED_DATA


@pytest.fixture(scope="module")
def http_server():
    """Serve folders over HTTP on 127.0.0.1 (no test may reach the internet).

    ``url = http_server(folder)`` starts a server for ``folder`` in a thread and returns its
    base URL; ``handler`` (a ``SimpleHTTPRequestHandler`` subclass) changes how requests are
    answered. Requests are not logged; every server is stopped when the module's tests end.
    """
    servers = []

    def start(folder, handler=SimpleHTTPRequestHandler):
        quiet = type("Quiet" + handler.__name__, (handler,), {"log_message": lambda *a: None})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(quiet, directory=str(folder)))
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.start()
        servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
