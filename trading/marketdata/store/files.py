"""Reading the user's files: plain text or a zip of them, line checks shared by the CSV importers."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from trading.marketdata.store.errors import ImportFileError

__all__ = ["csv_members", "split_lines"]


def csv_members(path: str | Path) -> Iterator[tuple[str, str]]:
    """``(name, text)`` of a CSV file, or of every ``*.csv`` member of a zip (``file.zip:member.csv``).

    Text is decoded as UTF-8 (a byte-order mark is dropped); ImportFileError for anything else.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFileError(path, None, "no such file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv") and not n.endswith("/")]
            if not names:
                raise ImportFileError(path, None, "the zip holds no .csv file")
            for name in names:
                yield f"{path}:{name}", _decode(zf.read(name), f"{path}:{name}")
        return
    yield str(path), _decode(path.read_bytes(), str(path))


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(name, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def split_lines(text: str, name: str) -> list[str]:
    """The lines of ``text`` without line ends; trailing blank lines dropped, a blank line inside refused."""
    lines = io.StringIO(text).read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ImportFileError(name, 1, "empty file")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            raise ImportFileError(name, i, "empty line")
    return lines
