"""Download public images over HTTPS: temp file, checksum, atomic rename.

A download never leaves a partial file where the workflow looks: bytes go to a hidden
``.<name>.partial`` beside the destination, the checksum given in the config (``sha256`` or
``md5``, or both) is checked, and only then is the file renamed into place. A mismatch is a
:class:`FrontlineInputError` naming the URL, the expected and the actual checksum.

Run ``python -m frontline.download sha256 FILE...`` to print checksums of files you have.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from . import config
from .errors import FrontlineInputError
from .files import atomic_output, name_problem

log = logging.getLogger(__name__)

ALGORITHMS = ("sha256", "md5")
CHUNK = 1 << 20
USER_AGENT = "frontline-workflow (https download of public images)"


def expected_checksums(entry: Mapping) -> dict[str, str]:
    """The checksums an entry of the ``download`` config asks for.

    Parameters
    ----------
    entry : dict
        May hold ``sha256`` and/or ``md5`` (hex digests; a ``md5:`` prefix as Zenodo writes
        it is accepted).

    Returns
    -------
    dict algorithm -> lower-case hex digest (empty when none is given).
    """
    out = {}
    for algo in ALGORITHMS:
        value = entry.get(algo)
        if value in (None, ""):
            continue
        value = str(value).strip().lower()
        if value.startswith(f"{algo}:"):
            value = value[len(algo) + 1 :]
        out[algo] = value
    return out


def file_checksums(
    path: str | os.PathLike, algorithms: Iterable[str] = ALGORITHMS
) -> dict[str, str]:
    """Hex digests of a file. Returns dict algorithm -> hex digest."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def verify(
    path: str | os.PathLike,
    expected: Mapping[str, str],
    *,
    url: str,
    dest: str | os.PathLike,
) -> dict[str, str]:
    """Raise FrontlineInputError unless ``path`` has every checksum in ``expected``."""
    if not expected:
        actual = file_checksums(path, ("sha256",))["sha256"]
        raise FrontlineInputError(
            f"no checksum is given for {url}, so the download cannot be verified "
            f"(the file just downloaded has sha256 {actual}; it was not kept)",
            file=dest,
            fix=f"compare {actual} with the checksum the data host publishes and, if they "
            f"agree, add `sha256: {actual}` (or the host's `md5:`) to this file's entry "
            f"under `download:` in the config",
        )
    actual = file_checksums(path, tuple(expected))
    for algo, want in expected.items():
        if actual[algo] != want:
            raise FrontlineInputError(
                f"checksum mismatch for {url}: expected {algo} {want}, got {actual[algo]} "
                f"(the download was discarded)",
                file=dest,
                fix="download again (a transfer may have been cut); if it keeps failing, the "
                "host now serves different bytes: check the dataset's page and update "
                f"`{algo}:` in the config only if the new file is the one you want",
            )
    return actual


def default_timeout_s() -> float:
    """The config schema's default ``timeout_s`` of a download entry, s."""
    return config.schema()["$defs"]["download_file"]["properties"]["timeout_s"]["default"]


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout_s: float | None = None,
) -> dict[str, str]:
    """Download ``url`` to ``dest``, verified, renamed into place only when it is right.

    Parameters
    ----------
    url : str
        http(s) URL.
    dest : str or Path
        Destination file.
    sha256, md5 : str, optional
        Expected hex digests; at least one is required for the file to be kept.
    timeout_s : float, optional
        Socket timeout for connecting and for each read, s (default: the config schema's,
        :func:`default_timeout_s`).

    Returns
    -------
    dict algorithm -> hex digest of the kept file.
    """
    dest = Path(dest)
    timeout_s = default_timeout_s() if timeout_s is None else timeout_s
    expected = expected_checksums({"sha256": sha256, "md5": md5})
    if not str(url).lower().startswith(("https://", "http://")):
        raise FrontlineInputError(
            f"'{url}' is not an http(s) URL",
            file=dest,
            fix="give the full https:// address of the file",
        )
    with atomic_output(dest) as tmp:
        size = _stream(url, tmp, dest, timeout_s)
        checksums = verify(tmp, expected, url=url, dest=dest)
        log.info(
            "downloaded %s (%d bytes) -> %s, %s",
            url,
            size,
            dest,
            ", ".join(f"{a} {d}" for a, d in checksums.items()),
        )
    return checksums


def fetch_folder(
    url: str,
    folder: str | os.PathLike,
    files: Mapping[str, Mapping | None],
    *,
    timeout_s: float | None = None,
) -> Path:
    """Download several files from one base URL into ``folder``, all verified.

    The files go to a hidden ``.<folder>.partial`` first; the folder appears, complete,
    only when every file is verified.

    Parameters
    ----------
    url : str
        Base URL; each file is fetched from ``url/<name>``.
    folder : str or Path
        Destination folder.
    files : dict
        name -> {"sha256": ..., "md5": ...}.
    timeout_s : float, optional
        Socket timeout for connecting and for each read, s (default: the config schema's).

    Returns
    -------
    Path of the folder.
    """
    folder = Path(folder)
    if not files:
        raise FrontlineInputError(
            "the download entry lists no files",
            file=folder,
            fix="list the files under `files:` with their checksums",
        )
    for name in files:  # each becomes a file of the folder, never a path out of it
        problem = name_problem(name, spaces=True)
        if problem:
            raise FrontlineInputError(
                f"the download entry's file name '{name}' cannot be a file of the folder: "
                f"{problem}",
                file=folder,
                fix="list plain file names (no '/', '..' or absolute paths) under `files:`",
            )
    if folder.is_dir():
        shutil.rmtree(folder)  # an older copy: it is replaced as a whole
    with atomic_output(folder) as tmp:
        tmp.mkdir(parents=True)
        for name, entry in files.items():
            file_url = url.rstrip("/") + "/" + urllib.request.quote(name)
            fetch(file_url, tmp / name, timeout_s=timeout_s, **expected_checksums(entry or {}))
    return folder


def _stream(url: str, tmp: Path, dest: Path, timeout_s: float) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response, open(tmp, "wb") as out:
            expected_len = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out, CHUNK)
            size = out.tell()
    except urllib.error.HTTPError as err:
        raise FrontlineInputError(
            f"could not download {url}: HTTP {err.code} {err.reason}",
            file=dest,
            fix="check the URL in the config's `download:` section (the dataset may have "
            "moved; see its DOI)",
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise FrontlineInputError(
            f"could not download {url}: {reason}",
            file=dest,
            fix="check the network connection (compute nodes often have none: the download "
            "rules run on the submit host) and run the workflow again",
        ) from None
    if expected_len is not None and int(expected_len) != size:
        raise FrontlineInputError(
            f"the download of {url} was cut short: {size} of {expected_len} bytes",
            file=dest,
            fix="run the workflow again",
        )
    return size


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m frontline.download sha256 FILE...``: print checksums as config lines."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] not in ALGORITHMS:
        sys.stderr.write("usage: python -m frontline.download {sha256|md5} FILE...\n")
        return 2
    for name in argv[1:]:
        digest = file_checksums(name, (argv[0],))[argv[0]]
        sys.stdout.write(f"{os.path.basename(name)}: {{{argv[0]}: {digest}}}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
