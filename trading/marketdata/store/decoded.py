"""Decoded sessions: a session's ``DayBars`` kept beside the store as raw arrays, so that reading it
again costs a memory map instead of a Parquet decode and an array build (about 20 ms of CPU a session).

``{root}/.decoded/{INDEX}/{session}.daybars`` holds one session of one index: a header (JSON) and the
arrays back to back. It is a cache, never a source: ``StoreFeed`` writes it after building a session
from its Parquet partitions and reads it back only when everything it was made from is unchanged.
A file is trusted when

* its format, its decoder (a fingerprint of the code that decodes and builds a session) and its
  sources - each partition it was built from (spot, chain, VIX) by inode, size and modification time,
  or its absence - equal today's: a store write replaces a partition by a rename, so a new inode;
* it is whole: its length is the header's, its arrays have the names, types and shapes of
  ``DayBars``, and the CRC-32 of its array bytes and of the session's digest is the header's (a
  torn or damaged file).

The header keeps the session's digest (``bars.session_digest``, the run's data version's part of
it), worked out from the very arrays written: a session read back carries it as ``day.digest``, so
a backtest's data version does not hash the session's 3 MB again (~0.5 s of CPU a year). The CRC
covers the digest with the arrays: a damaged digest is a damaged file.

Anything else - a missing, stale, foreign, truncated or damaged file - is a miss: the session is
decoded from Parquet again and the file rewritten (temporary file, then an atomic rename; readers
take no lock). Deleting ``.decoded`` is always safe. A store that cannot be written (read-only) is
read as before, without the cache.

The arrays are memory-mapped copy-on-write: pages are read from the page cache as they are touched,
a write to an array stays private to the process, and the mapping goes with the last array.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import secrets
import struct
import zlib
from datetime import date
from pathlib import Path

import numpy as np

from trading.core.bars import DAY_ARRAYS, DayBars, session_digest

__all__ = ["DIR", "SourceKey", "decoder_fingerprint", "load", "path", "save", "source_key"]

log = logging.getLogger(__name__)

DIR = ".decoded"
_MAGIC = b"DAYBARS3"  # 3: the session's digest in the header
_ALIGN = 64  # the payload's start in the file
_PREFIX = struct.Struct("<8sI")  # magic, header length

# (kind, inode, size, mtime_ns) of each partition a session is built from; None for one that is absent.
SourceKey = tuple[tuple[str, int, int, int] | None, ...]


def decoder_fingerprint(*sources: str | Path) -> str:
    """SHA-256 (hex) of the source files of the code that decodes a session: a change to any of them
    makes every decoded file stale."""
    digest = hashlib.sha256(_MAGIC)
    for source in sources:
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()


def source_key(parts: dict[str, Path]) -> SourceKey:
    """The identity of each partition (``{kind: path}``) as it is now: inode, size, modification time."""
    key = []
    for kind_name, part in parts.items():
        try:
            st = os.stat(part)
        except FileNotFoundError:
            key.append(None)
            continue
        key.append((kind_name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(key)


def path(root: Path, index: str, session: date) -> Path:
    """The decoded file of ``index``'s ``session`` under the store ``root``."""
    return Path(root) / DIR / index.upper() / f"{session.isoformat()}.daybars"


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _raw(a: np.ndarray) -> np.ndarray:
    """The bytes of a C-contiguous array, without a copy (datetime arrays export no buffer)."""
    return a.reshape(-1).view(np.uint8)


def _pieces(header: dict, arrays: list[np.ndarray]) -> list:
    """The payload: each array's bytes at its offset, zeros between (none for arrays of 8-byte items:
    they lie back to back, and the data version hashes them in one call)."""
    pieces, at = [], 0
    for (_, _, _, offset), a in zip(header["arrays"], arrays, strict=True):
        if offset > at:
            pieces.append(bytes(offset - at))
        pieces.append(_raw(a))
        at = offset + a.nbytes
    return pieces


def _header(day: DayBars, sources: SourceKey, decoder: str) -> tuple[dict, list[np.ndarray]]:
    arrays = [np.ascontiguousarray(getattr(day, name)) for name in DAY_ARRAYS]
    layout, offset = [], 0
    for name, a in zip(DAY_ARRAYS, arrays, strict=True):
        offset = -(-offset // a.itemsize) * a.itemsize  # each array at a multiple of its item size
        layout.append([name, a.dtype.str, list(a.shape), offset])
        offset += a.nbytes
    header = {
        "decoder": decoder,
        "sources": [list(s) if s is not None else None for s in sources],
        "index": day.index,
        "session": day.session.isoformat(),
        "expiries": [e.isoformat() for e in day.expiries],
        "arrays": layout,
        "payload": offset,
    }
    return header, arrays


def save(root: Path, day: DayBars, sources: SourceKey, decoder: str) -> bytes:
    """Write ``day`` as the decoded file of its session, made from ``sources`` (``source_key``, taken
    *before* the partitions were read: a partition replaced meanwhile leaves the file stale, never
    wrong). Best effort: an error (a read-only store, a full disk) is logged and the file left out.
    Returns the session's digest (``bars.session_digest``), written or not."""
    target = path(root, day.index, day.session)
    header, arrays = _header(day, sources, decoder)
    digest = session_digest(day)
    header["sha256"] = digest.hex()
    pieces = _pieces(header, arrays)
    crc = 0
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
    header["crc32"] = zlib.crc32(digest, crc)
    text = json.dumps(header, separators=(",", ":")).encode()
    start = _aligned(_PREFIX.size + len(text))
    temp = target.with_name(f".{target.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("wb") as fh:
            fh.write(_PREFIX.pack(_MAGIC, len(text)) + text + bytes(start - _PREFIX.size - len(text)))
            for piece in pieces:
                fh.write(piece)
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        log.debug("decoded session %s %s not written: %s", day.index, day.session, exc)
    return digest


def load(root: Path, index: str, session: date, sources: SourceKey, decoder: str) -> DayBars | None:
    """The decoded ``DayBars`` of ``index``'s ``session`` when its file is whole and was made by
    ``decoder`` from exactly ``sources`` (``source_key``); None otherwise (not there, stale, damaged)."""
    try:
        with path(root, index, session).open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < _PREFIX.size:
                return None
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except (FileNotFoundError, ValueError, OSError):
        return None
    try:
        return _parse(mm, size, index, session, sources, decoder)
    except (ValueError, KeyError, TypeError, IndexError, struct.error):
        return None  # a damaged header or layout: not trusted


def _parse(
    mm: mmap.mmap, size: int, index: str, session: date, sources: SourceKey, decoder: str
) -> DayBars | None:
    magic, length = _PREFIX.unpack_from(mm, 0)
    if magic != _MAGIC or _PREFIX.size + length > size:
        return None
    header = json.loads(bytes(mm[_PREFIX.size : _PREFIX.size + length]))
    start = _aligned(_PREFIX.size + length)
    want_sources = [list(s) if s is not None else None for s in sources]
    if (
        header["decoder"] != decoder
        or header["sources"] != want_sources
        or header["index"] != index
        or header["session"] != session.isoformat()
        or start + int(header["payload"]) != size
        or [entry[0] for entry in header["arrays"]] != list(DAY_ARRAYS)
    ):
        return None
    digest = bytes.fromhex(header["sha256"])
    payload = memoryview(mm)[start:]
    try:
        if len(digest) != 32 or zlib.crc32(digest, zlib.crc32(payload)) != header["crc32"]:
            return None
    finally:
        payload.release()
    values: dict[str, np.ndarray] = {}
    for name, dtype, shape, offset in header["arrays"]:
        dt = np.dtype(dtype)
        if dt.kind not in "fM" or dt.hasobject:
            return None
        count = int(np.prod(shape, dtype=np.int64))
        if offset < 0 or start + offset + count * dt.itemsize > size:
            return None
        values[name] = np.frombuffer(mm, dtype=dt, count=count, offset=start + offset).reshape(shape)
    day = DayBars(
        index=index,
        session=session,
        expiries=tuple(date.fromisoformat(e) for e in header["expiries"]),
        **values,
    )
    day.digest = digest  # worked out from these arrays when they were written (the CRC holds both)
    return day
