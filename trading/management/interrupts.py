"""Ctrl-C and SIGTERM for the long management commands (``backtest``, ``sweep``): both raised as
``KeyboardInterrupt`` in the command's main thread, so the run is marked FAILED and its helper
processes stopped, rather than SIGTERM ending the process with the run left RUNNING for the reaper."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

__all__ = ["SIGTERM_TEXT", "stopped", "terminate_as_interrupt"]

SIGTERM_TEXT = "SIGTERM"  # the KeyboardInterrupt's text when SIGTERM raised it


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raised as ``KeyboardInterrupt("SIGTERM")`` inside the block (the main thread only:
    elsewhere Python runs no signal handler, and the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise KeyboardInterrupt(SIGTERM_TEXT)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stopped(exc: KeyboardInterrupt, detail: str = "") -> CommandError:
    """The one line a command ends with when Ctrl-C or SIGTERM stopped it (``interrupted: detail``,
    ``terminated (SIGTERM): detail``), with the exit status a shell reports (128 + the signal)."""
    if str(exc) == SIGTERM_TEXT:
        how, code = "terminated (SIGTERM)", 128 + signal.SIGTERM
    else:
        how, code = "interrupted", 128 + signal.SIGINT
    return CommandError(f"{how}{detail}", returncode=code)
