"""frontline.download against a real HTTP server on 127.0.0.1 (the ``http_server`` fixture)."""

import hashlib
from http.server import SimpleHTTPRequestHandler

import pytest

from frontline.download import fetch, fetch_folder, main
from frontline.errors import FrontlineInputError

pytestmark = pytest.mark.timeout(60)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, every byte value
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Truncating(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/truncated.bin":  # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD) * 2))
            self.end_headers()
            self.wfile.write(PAYLOAD)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def server(tmp_path_factory, http_server):
    root = tmp_path_factory.mktemp("served")
    (root / "data.bin").write_bytes(PAYLOAD)
    (root / "set").mkdir()
    (root / "set" / "a channel.tif").write_bytes(b"first")
    (root / "set" / "b.tif").write_bytes(b"second")
    return http_server(root, handler=Truncating)


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*"))


def test_fetch_verifies_sha256_and_md5(server, tmp_path):
    dest = tmp_path / "sub" / "data.bin"
    sums = fetch(f"{server}/data.bin", dest, sha256=SHA256, md5=f"md5:{MD5.upper()}")
    assert dest.read_bytes() == PAYLOAD
    assert sums == {"sha256": SHA256, "md5": MD5}
    assert leftovers(tmp_path) == ["data.bin", "sub"]


def test_mismatch_names_url_expected_actual_and_keeps_nothing(server, tmp_path):
    dest = tmp_path / "data.bin"
    wrong = "0" * 64
    with pytest.raises(FrontlineInputError) as err:
        fetch(f"{server}/data.bin", dest, sha256=wrong)
    text = err.value.message()
    assert f"{server}/data.bin" in text
    assert f"expected sha256 {wrong}" in text and f"got {SHA256}" in text
    assert "Fix:" in text and str(dest) in text
    assert leftovers(tmp_path) == []


def test_md5_mismatch(server, tmp_path):
    with pytest.raises(FrontlineInputError, match=f"expected md5 {'f' * 32}, got {MD5}"):
        fetch(f"{server}/data.bin", tmp_path / "d.bin", md5="f" * 32)
    assert leftovers(tmp_path) == []


def test_no_checksum_refuses_and_prints_the_sha256(server, tmp_path):
    with pytest.raises(FrontlineInputError, match=f"no checksum is given.*sha256 {SHA256}"):
        fetch(f"{server}/data.bin", tmp_path / "d.bin")
    assert leftovers(tmp_path) == []


def test_missing_file_is_a_clear_http_error(server, tmp_path):
    with pytest.raises(FrontlineInputError, match="HTTP 404"):
        fetch(f"{server}/nope.bin", tmp_path / "d.bin", sha256=SHA256)
    assert leftovers(tmp_path) == []


def test_truncated_transfer_keeps_nothing(server, tmp_path):
    with pytest.raises(
        FrontlineInputError, match="truncated.bin.*(cut short|IncompleteRead|bytes)"
    ):
        fetch(f"{server}/truncated.bin", tmp_path / "d.bin", sha256=SHA256)
    assert leftovers(tmp_path) == []


def test_not_a_url(tmp_path):
    with pytest.raises(FrontlineInputError, match="not an http"):
        fetch("/some/local/file", tmp_path / "d.bin", sha256=SHA256)


def test_fetch_folder_all_or_nothing(server, tmp_path):
    good = {
        "a channel.tif": {"sha256": hashlib.sha256(b"first").hexdigest()},
        "b.tif": {"md5": hashlib.md5(b"second").hexdigest()},
    }
    folder = tmp_path / "point1"
    fetch_folder(f"{server}/set", folder, good)
    assert (folder / "a channel.tif").read_bytes() == b"first"
    assert (folder / "b.tif").read_bytes() == b"second"

    bad = dict(good, **{"b.tif": {"sha256": "1" * 64}})
    other = tmp_path / "point2"
    with pytest.raises(FrontlineInputError, match="b.tif"):
        fetch_folder(f"{server}/set", other, bad)
    assert not other.exists()
    assert leftovers(tmp_path) == ["a channel.tif", "b.tif", "point1"]


def test_checksum_command_prints_config_lines(tmp_path, capsys):
    path = tmp_path / "x.tif"
    path.write_bytes(PAYLOAD)
    assert main(["sha256", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"x.tif: {{sha256: {SHA256}}}"
