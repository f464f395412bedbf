"""A one-line progress bar for management commands (``[#####     ]  50.0%  label``, redrawn in place)."""

from __future__ import annotations

from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Draws ``done/total`` on one line of ``stream``; ``finish()`` ends the line. Silent when disabled."""

    def __init__(self, stream: TextIO, total: int, *, width: int = 30, enabled: bool = True) -> None:
        self.stream = stream
        self.total = max(int(total), 1)
        self.width = width
        self.enabled = enabled
        self._drawn = False

    def update(self, done: int, label: str = "") -> None:
        if not self.enabled:
            return
        share = min(max(done / self.total, 0.0), 1.0)
        bar = "#" * int(share * self.width)
        self.stream.write(f"\r[{bar:<{self.width}}] {share:6.1%}  {label[:60]:<60}")
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
