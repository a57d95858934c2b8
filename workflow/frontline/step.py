"""Run one workflow step: its output to the rule's log, clear errors, no partial outputs.

Every script under ``workflow/scripts/`` is three lines around :func:`run`, so a bad input
becomes one readable paragraph and a non-zero exit, and no half-written output survives.

The console shows Snakemake's progress and frontline's own warnings, nothing else: the step's
standard output and error (file descriptors 1 and 2) go to the rule's log before the step
imports anything noisy, so what TensorFlow, absl or oneDNN print when they start (from C++,
past Python's ``sys.stderr``) lands in the log; frontline's WARNING and ERROR lines go to the
log and, naming the rule and sample, to the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .errors import FrontlineInputError
from .files import atomic_output, remove_outputs
from .io import ImageReader, open_image

__all__ = ["atomic_output", "open_input_image", "output_to", "run"]  # atomic_output: scripts'

log = logging.getLogger("frontline")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _ours(record: logging.LogRecord) -> bool:
    return record.name == "frontline" or record.name.startswith("frontline.")


@contextlib.contextmanager
def output_to(path: str | os.PathLike | None) -> Iterator[TextIO]:
    """Send this process's standard output and error (fds 1 and 2, so C++ libraries' output
    too) to the file ``path`` while the block runs; yield a stream to the original stderr.

    ``path`` None: nothing is redirected and the stream is ``sys.stderr``.
    """
    if path is None:
        yield sys.stderr
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    console = _stream_on(saved[2])
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for fd in (1, 2):
            os.dup2(target, fd)
        yield console
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(target)
        console.close()


def _stream_on(fd: int) -> TextIO:
    """A text stream on (a duplicate of) file descriptor ``fd``, sharing its file offset."""
    return os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8", errors="replace")


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Call ``main(snakemake)`` with logging set up; on failure remove outputs and exit 1.

    Everything the step prints goes to ``snakemake.log[0]`` (see :func:`output_to`);
    frontline's warnings and errors go there and to the console, naming the rule and sample.

    Parameters
    ----------
    snakemake : the object Snakemake gives a ``script:``
    main : callable taking that object
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    wildcards = getattr(snakemake, "wildcards", None)
    wildcards = dict(wildcards.items()) if hasattr(wildcards, "items") else {}
    rule = getattr(snakemake, "rule", "?")
    where = ", ".join([f"rule {rule}"] + [f"{k} '{v}'" for k, v in wildcards.items()])
    code = 0
    with output_to(log_path) as console:
        to_log = logging.StreamHandler(_stream_on(2))  # the log, in turn with what C++ prints
        to_console = logging.StreamHandler(console)
        to_console.setLevel(logging.INFO if log_path is None else logging.WARNING)
        to_console.addFilter(_ours)
        to_console.setFormatter(
            logging.Formatter(f"frontline %(levelname)s ({where}): %(message)s")
        )
        handlers = [to_log, to_console] if log_path else [to_console]
        logging.basicConfig(level=logging.INFO, handlers=handlers, force=True, format=LOG_FORMAT)
        try:
            main(snakemake)
        except FrontlineInputError as err:
            remove_outputs(snakemake.output)
            log.error("%s", err.message())
            code = 1
        except Exception:  # an unexpected failure: keep the traceback in the log
            remove_outputs(snakemake.output)
            log.error("unexpected error in rule %s:\n%s", rule, traceback.format_exc())
            code = 1
        finally:
            for handler in handlers:
                logging.getLogger().removeHandler(handler)
                handler.flush()
            to_log.stream.close()
    if code:
        sys.exit(code)


def open_input_image(smk: Any) -> ImageReader:
    """The rule's ``input.image``, opened lazily (:func:`frontline.io.open_image`) with the
    params every image-reading rule declares: ``pixel_size_um``, ``default_pixel_size_um``,
    ``channel_names`` and ``fluor_map``."""
    p = smk.params
    return open_image(
        smk.input.image,
        sample=smk.wildcards.sample,
        pixel_size_um=p.pixel_size_um,
        default_pixel_size_um=p.default_pixel_size_um,
        channel_names=p.channel_names,
        fluor_map=p.fluor_map,
    )
