"""Errors of the store's importers: every one names the file, the line (or row) and the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["CoverageError", "ImportFileError", "MappingError", "Problems"]


class ImportFileError(ValueError):
    """A file the store refuses: ``path``, ``line`` (1 = the header; None for the whole file) and ``reason``.

    ``where`` is ``"line"`` for text files and ``"row"`` for Parquet (row 1 = the first data row).
    Nothing of a refused file is stored.
    """

    def __init__(
        self, path: str | Path | None, line: int | None, reason: str, *, where: str = "line"
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = reason
        self.where = where
        prefix = f"{self.path}: " if self.path else ""
        at = f"{where} {line}: " if line is not None else ""
        super().__init__(f"{prefix}{at}{reason}")


class CoverageError(ImportFileError):
    """A date outside the dated tables (holidays, charges, lot sizes): the reason names the table to extend."""


class MappingError(ValueError):
    """A column-mapping file (TOML) that cannot be used: the message names the file and the key."""


class Problems:
    """The first problem of a file in file order (ties: the first check made).

    ``flag(bad, reason)``: ``bad`` is a boolean mask over the data rows, ``reason`` a string or a
    function of the row number. ``raise_first`` raises ``ImportFileError`` at ``lines[row]``.
    """

    def __init__(self, path: str | Path | None, lines: np.ndarray, *, where: str = "line") -> None:
        self.path = path
        self.lines = lines
        self.where = where
        self.best: tuple[int, int, str] | None = None
        self._order = 0

    def flag(self, bad: np.ndarray, reason: str | Callable[[int], str]) -> None:
        self._order += 1
        hits = np.flatnonzero(np.asarray(bad, dtype=bool))
        if hits.size == 0:
            return
        row = int(hits[0])
        if self.best is None or (row, self._order) < self.best[:2]:
            self.best = (row, self._order, reason(row) if callable(reason) else str(reason))

    def raise_first(self) -> None:
        if self.best is not None:
            row, _, text = self.best
            raise ImportFileError(self.path, int(self.lines[row]), text, where=self.where)
