"""Work beside the run: a function applied to items in a forked process while this one goes on. Pure.

``MapApart(fn)`` forks a child (``os.fork``: it has everything this process had loaded, ``fn``
included) that reads the items ``send`` writes to a pipe, applies ``fn`` to each in the order sent,
and writes each result to an anonymous temporary file. ``results()`` ends the input, waits for the
child and yields, in order, ``(True, fn(item))`` - or ``(False, item)`` where ``fn`` raised in the
child: the caller works that item out itself (and meets the same error there, at its place).

A backtest sends each closed trade as it closes, and the journal's checks of the trade run on a
second core while the loop trades the next ones (``trading.execution.backtests``); after the run,
the trades come back checked, and only the database's part of journaling is left. The pipe never
makes the sender wait on the child's output: the child writes its results to the file, not back
through a pipe, so neither side can block the other.

Failure: a child that dies (SIGKILL, out of memory) is ``ApartDied`` at the next ``send`` or at
``results()`` - its results are never read half-written. ``close()`` kills the child unless it
finished and reaps it (a caller that stops early, or fails, leaves no process behind). If this
process dies, the child reads the end of its input and ends.

Fork only where no other thread of this process runs (the child runs only ``fn``: no lock another
thread held is needed there), and only with an ``fn`` that touches nothing this process holds open
(database connections, sockets): the child must not use them. It leaves with ``os._exit``: no exit
handler of the parent runs twice.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # not POSIX: the pipe keeps its size
    fcntl = None

__all__ = [
    "END",
    "ApartDied",
    "MapApart",
    "Truncated",
    "can_fork",
    "die_with_parent",
    "portable",
    "read_item",
    "reap",
    "widen",
    "write_item",
]

_HEADER = struct.Struct("<Q")  # the length of each pickled item on the pipe
_END = _HEADER.pack(0)  # no item pickles to nothing: the end of the input
END = object()  # what ``read_item`` gives for ``_END``


class Truncated(EOFError):
    """The stream ended inside an item: its writer died while writing it."""


def write_item(out: BinaryIO, item: Any) -> None:
    """``item`` onto a stream (a pipe): the length of its pickle (8 bytes), then the pickle."""
    blob = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_HEADER.pack(len(blob)))
    out.write(blob)


def read_item(src: BinaryIO) -> Any:
    """The next item ``write_item`` wrote to ``src``; ``END`` where the writer ended its input.
    ``EOFError`` when the stream ends before an item, ``Truncated`` when it ends inside one."""
    head = src.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise Truncated("the stream ended inside an item's length") if head else EOFError("no more items")
    (length,) = _HEADER.unpack(head)
    if length == 0:
        return END
    blob = src.read(length)
    if len(blob) < length:
        raise Truncated(f"the stream ended {len(blob)} bytes into an item of {length}")
    return pickle.loads(blob)


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (a child hands it to its parent, which raises it), else a
    RuntimeError naming it (its traceback in the text)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError("".join(traceback.format_exception(exc)).strip())


def can_fork() -> bool:
    return hasattr(os, "fork")


def die_with_parent(parent: int) -> None:
    """In a forked worker: end it when ``parent`` (the process that forked it) dies, however it dies
    (SIGKILL included), and leave Ctrl-C to the parent, which stops its workers itself. Linux asks
    the kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); a parent already gone ends the worker now.
    Elsewhere only the Ctrl-C part holds."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes  # noqa: PLC0415 - Linux only, in the worker only

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: not Linux
        return
    if os.getppid() != parent:  # died between the fork and the prctl
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def widen(fd: int) -> None:
    """A pipe's buffer as large as the system lets it be (Linux: 1 MiB by default): the writer runs
    that far ahead of the reader instead of one page's worth."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if setsize is None:
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            size = int(f.read())
    except (OSError, ValueError):
        size = 1 << 20
    try:
        fcntl.fcntl(fd, setsize, size)
    except OSError:
        pass  # the default buffer: the writer waits sooner


# The peak resident memory (kB, ``ru_maxrss``) of each child ``reap`` waited for, in order: what this
# process's helpers cost beside it (``bench/backtest.py`` adds them to the process's own peak).
reaped_peaks_kb: list[int] = []


def reap(pid: int) -> int | None:
    """Wait for the child ``pid``; its exit code (negative: the signal that ended it), None if it
    was reaped already."""
    try:
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:
        return None
    reaped_peaks_kb.append(usage.ru_maxrss)
    return os.waitstatus_to_exitcode(status)


class ApartDied(RuntimeError):
    """The process working beside this one ended before handing all its results over."""


class MapApart:
    """``fn`` over the items sent, in a forked process (see the module's docstring)."""

    def __init__(self, fn: Callable[[Any], Any], *, what: str = "work", nice: int = 0) -> None:
        """``what``: the work, as errors name it. ``nice``: the child's niceness above this
        process's (Unix): work that only has to be done by the end yields the CPU to the caller
        where both want it (on two cores, the caller's loop and its other helpers)."""
        self.what = what
        self.sent = 0
        self._results = tempfile.TemporaryFile(prefix="apart-")
        read, write = os.pipe()
        widen(write)
        self.pid = os.fork()
        if self.pid == 0:  # the child
            os.close(write)
            code = 1
            try:
                if nice:
                    os.nice(nice)
                code = _serve(fn, read, self._results.fileno())
            except BaseException:  # noqa: BLE001 - any failure ends the child with a code (1)
                code = 1
            finally:
                os._exit(code)
        os.close(read)
        self._pipe = os.fdopen(write, "wb")  # buffered: a write the kernel takes in parts is finished
        self._finished = False

    def send(self, item: Any) -> None:
        """Hand ``item`` to the child (it is worked out while this process goes on)."""
        try:
            write_item(self._pipe, item)
            self._pipe.flush()  # the child works on it now, not when a buffer fills
        except BrokenPipeError:
            self.close()
            raise ApartDied(f"the process doing the {self.what} (pid {self.pid}) ended early") from None
        self.sent += 1

    def results(self) -> Iterator[tuple[bool, Any]]:
        """Each item's ``(True, fn(item))``, or ``(False, item)`` where ``fn`` raised, in the order
        sent - once the child has done them all (the input ended here; this waits for it). Then the
        results file is closed. ``ApartDied`` if the child did not finish them all."""
        self._end()
        try:
            src = self._results
            src.seek(0)
            for _ in range(self.sent):
                yield pickle.load(src)
        finally:
            self.close()

    def _end(self) -> None:
        try:
            self._pipe.write(_END)
            self._pipe.close()
        except BrokenPipeError:
            pass  # the child is gone: its exit code says how
        code = reap(self.pid)
        self._finished = True
        done = self._done_marker()
        if code != 0 or done != self.sent:
            self._results.close()
            raise ApartDied(
                f"the process doing the {self.what} (pid {self.pid}) ended with code {code}, "
                f"{done if done is not None else 'no'} of {self.sent} results handed over"
            )

    def _done_marker(self) -> int | None:
        """The count the child wrote last (``_serve``), None when its file has none."""
        src = self._results
        try:
            src.seek(-_HEADER.size, os.SEEK_END)
            (count,) = _HEADER.unpack(src.read(_HEADER.size))
        except (OSError, struct.error):
            return None
        return count

    def close(self) -> None:
        """Stop the child (killed unless it finished) and reap it; the results file is closed."""
        if not self._pipe.closed:
            try:
                self._pipe.close()
            except BrokenPipeError:
                pass
        if not self._finished:
            try:
                os.kill(self.pid, signal.SIGKILL)  # the caller stopped first: its work is not needed
            except ProcessLookupError:
                pass
            reap(self.pid)
            self._finished = True
        self._results.close()


def _serve(fn: Callable[[Any], Any], fd: int, results_fd: int) -> int:
    """The child: each item read from ``fd`` through ``fn``, its result pickled into the results
    file, then the count of items (the done marker: the file's last 8 bytes); 0 once the input ended
    with ``_END``, 1 when it ended without it (the parent died)."""
    count = 0
    with (
        os.fdopen(fd, "rb", buffering=1 << 20) as src,
        os.fdopen(os.dup(results_fd), "wb", buffering=1 << 20) as out,
    ):
        while True:
            try:
                item = read_item(src)
            except EOFError:
                return 1  # the parent is gone: nobody will read the results
            if item is END:
                break
            try:
                result = (True, fn(item))
            except Exception:  # noqa: BLE001 - the caller works this item out itself
                result = (False, item)
            pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
            count += 1
        out.write(_HEADER.pack(count))
        out.flush()
    return 0
