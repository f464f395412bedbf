"""The multiprocess directory of prometheus_client: what keeps ``/metrics`` right across processes.

Every process on a host (web workers, the trading loop, Celery children) writes its metric values to
files named ``<type>_<pid>.db`` in ``settings.PROMETHEUS_MULTIPROC_DIR``; the web server's ``/metrics``
reads them all and adds them up, so a counter moved in a Celery worker shows on the web server.

Three rules keep that right and fast:

* **A dead process is folded, not forgotten.** Its counters and histograms are added into
  ``<type>_archive.db`` files, its ``max``/``min``/``sum``/``mostrecent`` gauges merged there, its
  per-process and ``live*`` gauges dropped (``mark_process_dead``), and its files removed. So its counts
  survive, and the files stay one set per live process however often Celery recycles its children: the
  scrape stays fast. This happens when a Celery child shuts down (``worker_process_shutdown``), when a
  gunicorn worker exits (``child_exit``), at any process's exit (``atexit``), and at each scrape for a
  process that died without a word (SIGKILL, OOM).
* **Scrapes read under a shared lock** and folds write under an exclusive one (``flock`` on
  ``.lock`` in the directory), so a scrape never sees a value both in a dead file and in the archive.
* **The web server wipes the directory at its start, safely** (``wipe`` from ``asgi.py``/``wsgi.py``
  and gunicorn's ``on_starting``): only when no other live process uses the directory; otherwise it
  only folds the dead - deleting a file a running worker has mapped would lose its counts for good.

Pids mean something on one host only: a worker on another host (or in another container) keeps its own
directory and serves its own endpoint (``serve_worker_metrics`` on ``WORKER_METRICS_PORT``).

Nothing here reads the database: ``trading.monitoring.views`` adds the database collector to a scrape.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.mmap_dict import MmapedDict

log = logging.getLogger(__name__)

ARCHIVE = "archive"
_FILE = re.compile(
    r"^(counter|histogram|summary|gauge_(?:live)?(?:all|min|max|sum|mostrecent))_(\d+|archive)\.db$"
)
_DROP_MODES = (
    "gauge_all",
    "gauge_liveall",
    "gauge_livesum",
    "gauge_livemin",
    "gauge_livemax",
    "gauge_livemostrecent",
)


def directory() -> Path | None:
    """The multiprocess directory of this host, or None when multiprocess mode is off."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not value:
        try:
            value = getattr(settings, "PROMETHEUS_MULTIPROC_DIR", "")  # loading settings sets the env
        except Exception:  # noqa: BLE001 - no Django configured: no multiprocess mode
            value = ""
    return Path(value) if value else None


@contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True


def _files(path: Path) -> list[tuple[Path, str, str]]:
    """(file, prefix, pid or 'archive') of every metric file in ``path``."""
    out = []
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return out
    for name in names:
        m = _FILE.match(name)
        if m:
            out.append((path / name, m.group(1), m.group(2)))
    return out


def _merge_into_archive(path: Path, prefix: str, files: list[Path]) -> None:
    """Fold ``files`` (all of type ``prefix``) into ``<prefix>_archive.db`` and remove them.
    Caller holds the exclusive lock."""
    if prefix not in _DROP_MODES:
        archive = path / f"{prefix}_{ARCHIVE}.db"
        merged: dict[str, tuple[float, float]] = {}
        sources = ([archive] if archive.exists() else []) + files
        for f in sources:
            try:
                entries = MmapedDict.read_all_values_from_file(str(f))
            except (FileNotFoundError, ValueError, OSError):
                continue
            for key, value, timestamp, _pos in entries:
                if key not in merged:
                    merged[key] = (value, timestamp)
                    continue
                old, old_ts = merged[key]
                if prefix == "gauge_max":
                    merged[key] = (max(old, value), max(old_ts, timestamp))
                elif prefix == "gauge_min":
                    merged[key] = (min(old, value), max(old_ts, timestamp))
                elif prefix == "gauge_mostrecent":
                    merged[key] = (value, timestamp) if timestamp >= old_ts else (old, old_ts)
                else:  # counter, histogram (buckets are stored per bucket), summary, gauge_sum: add
                    merged[key] = (old + value, max(old_ts, timestamp))
        tmp = path / f".{prefix}_{ARCHIVE}.tmp"
        tmp.unlink(missing_ok=True)
        out = MmapedDict(str(tmp))
        try:
            for key, (value, timestamp) in merged.items():
                out.write_value(key, value, timestamp)
        finally:
            out.close()
        os.replace(tmp, archive)
    for f in files:
        f.unlink(missing_ok=True)


def _fold(path: Path, pids: Iterable[str]) -> int:
    wanted = set(pids)
    groups: dict[str, list[Path]] = {}
    for f, prefix, pid in _files(path):
        if pid in wanted:
            groups.setdefault(prefix, []).append(f)
    for prefix, files in groups.items():
        _merge_into_archive(path, prefix, files)
    return sum(len(v) for v in groups.values())


def fold_dead(path: Path | None = None) -> int:
    """Fold the files of every process on this host that is no longer alive; return files folded."""
    path = path or directory()
    if path is None:
        return 0
    dead = {pid for _f, _p, pid in _files(path) if pid != ARCHIVE and not _alive(int(pid))}
    if not dead:
        return 0
    with _locked(path, exclusive=True):
        return _fold(path, dead)


def process_dead(pid: int | None = None, path: Path | None = None) -> int:
    """Fold the files of ``pid`` (this process when None), which has exited or is about to."""
    path = path or directory()
    if path is None:
        return 0
    pid = os.getpid() if pid is None else int(pid)
    try:
        with _locked(path, exclusive=True):
            multiprocess.mark_process_dead(pid, str(path))
            return _fold(path, {str(pid)})
    except Exception:  # noqa: BLE001 - called from exit paths: never raise there
        log.warning("could not fold the metric files of pid %s", pid, exc_info=True)
        return 0


def wipe(path: Path | None = None) -> int:
    """Start the directory afresh when a web server starts, safely: when no other live process
    uses it, remove every metric file (the archive and the files of dead processes); when one does
    (a worker on this host kept running, another web worker started first), only fold the dead
    ones - a file a live process has mapped must never go. Returns the number of files removed."""
    path = path or directory()
    if path is None:
        return 0
    _refuse_dangerous(path)
    me = str(os.getpid())
    with _locked(path, exclusive=True):
        files = _files(path)
        others = {pid for _f, _p, pid in files if pid not in (ARCHIVE, me) and _alive(int(pid))}
        if others:
            dead = {pid for _f, _p, pid in files if pid not in (ARCHIVE, me) and pid not in others}
            return _fold(path, dead)
        removed = 0
        for f, _prefix, pid in files:
            if pid != me:
                f.unlink(missing_ok=True)
                removed += 1
        return removed


def web_server_starting() -> None:
    """Called when a web server process starts (asgi.py, wsgi.py, gunicorn ``on_starting``): wipe
    the directory if nothing else uses it. Never raises."""
    try:
        wipe()
    except Exception:  # noqa: BLE001 - metrics never stop the web server
        log.warning("could not prepare the metrics directory", exc_info=True)


def _refuse_dangerous(path: Path) -> None:
    resolved = path.resolve()
    if resolved == Path("/") or resolved == Path.home().resolve() or len(resolved.parts) < 2:
        raise ValueError(f"refusing to wipe metrics in {resolved}: not a dedicated directory")


def file_count(path: Path | None = None) -> int:
    """Number of metric files in the directory (one set per live process, plus the archive)."""
    path = path or directory()
    return len(_files(path)) if path else 0


class LockedMultiProcessCollector:
    """``MultiProcessCollector`` that first folds dead processes and reads under the shared lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self):
        try:
            fold_dead(self.path)
        except Exception:  # noqa: BLE001 - a failed fold must not fail the scrape
            log.warning("folding dead metric files failed", exc_info=True)
        with _locked(self.path, exclusive=False):
            return list(multiprocess.MultiProcessCollector(None, path=str(self.path)).collect())


class _ProcessRegistry:
    """The default registry of this process (when multiprocess mode is off)."""

    def collect(self):
        return REGISTRY.collect()


def process_collector():
    """The collector of the process-side metrics: every process on this host, or this process."""
    path = directory()
    if path is not None:
        return LockedMultiProcessCollector(path)
    return _ProcessRegistry()


def serve_worker_metrics(port: int, addr: str = "0.0.0.0"):
    """Serve this host's process metrics on ``addr:port`` (a worker on a host without the web
    server). Returns the server, or None when the port cannot be bound."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(process_collector())
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as exc:
        log.error("worker metrics endpoint on %s:%s not started: %s", addr, port, exc)
        return None
    log.info("worker metrics on http://%s:%s/metrics", addr, port)
    return server


def _at_exit() -> None:
    path = directory()
    if path is None:
        return
    own = path.name == f"desk-prometheus-{os.getpid()}"
    if own and os.environ.get("DESK_KEEP_METRICS_DIR") != "1":
        # The private directory settings gave this test process: nothing else uses it.
        shutil.rmtree(path, ignore_errors=True)
        return
    if any(pid == str(os.getpid()) for _f, _p, pid in _files(path)):
        process_dead(os.getpid(), path)


def install_exit_hook() -> None:
    """Fold this process's files when it exits (idempotent)."""
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(_at_exit)
        _exit_hook_installed = True


_exit_hook_installed = False
