"""The project's one exception type for bad input."""

from __future__ import annotations

import os


class FrontlineInputError(Exception):
    """Bad input that a person can fix.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    sample : str, optional
        The sample the input belongs to.
    file : str or path, optional
        The file that holds the problem.
    fix : str, optional
        What the person should do about it.
    """

    def __init__(
        self,
        problem: str,
        *,
        sample: str | None = None,
        file: str | os.PathLike | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.sample = sample
        self.file = None if file is None else str(file)
        self.fix = fix
        super().__init__(self.message())

    def message(self) -> str:
        """One paragraph: where, what, and how to fix it."""
        where = []
        if self.sample is not None:
            where.append(f"sample '{self.sample}'")
        if self.file is not None:
            where.append(f"file '{self.file}'")
        text = (", ".join(where) + ": " if where else "") + self.problem.rstrip(".") + "."
        if self.fix:
            text += " Fix: " + self.fix.rstrip(".") + "."
        return text
