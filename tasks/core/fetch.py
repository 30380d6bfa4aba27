"""Fetch a dataset's gzip-compressed IDX files from an ordered list of mirrors, verified.

Each file is decompressed while it streams in, refused as soon as it would grow past its
expected size (a wrong file or a gzip bomb never fills the disk), checked against the sha256 of
its payload, and only then renamed into place: nothing partial or unverified ever sits in the
raw folder under a final name. Transient failures (connection errors, timeouts, HTTP 5xx) are
retried with exponential backoff and jitter; anything else (404, checksum mismatch, bad gzip)
moves on to the next mirror at once. A redirect from https to http is refused.

Every wait is bounded: each network operation by ``timeout``; a transfer that averages less
than ``min_rate`` bytes/s over any ``timeout``-second window (a stalled or trickling mirror,
which never trips a socket timeout) and a file that takes longer than ``DEADLINE_FACTOR *
timeout`` from one mirror both count as transient failures of that mirror.
"""

from __future__ import annotations

import http.client
import logging
import random
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from tasks.core.errors import ConfigError, DataError
from tasks.core.gunzip import BoundedGunzip, PayloadError
from tasks.core.pace import (
    DEADLINE_FACTOR,
    MIN_RATE,
    DownloadProgress,
    Pace,
    Progress,
    StalledTransferError,
    format_progress,
)
from tasks.core.registry import DatasetSpec, IdxFile
from tasks.engine.atomic import atomic_path, sha256_file

__all__ = ["DEADLINE_FACTOR", "MIN_RATE", "DownloadProgress", "fetch_dataset", "format_progress",
           "resolve_mirrors"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TRANSIENT_HTTP = frozenset({408, 425, 429})


class _MirrorError(Exception):
    """This mirror cannot provide this file; ``transient`` failures are worth a retry."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


class _NoDowngradeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from https to anything but https."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new_scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        old_scheme = urllib.parse.urlsplit(req.full_url).scheme.lower()
        if new_scheme not in ("http", "https") or (old_scheme == "https" and new_scheme != "https"):
            raise _MirrorError(f"refused a redirect from {req.full_url} to {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def resolve_mirrors(spec: DatasetSpec, user_mirror: str | None) -> list[str]:
    """The mirrors to try, in order: only ``user_mirror`` when given, else ``spec.mirrors``.

    ``user_mirror`` is an ``http(s)://`` URL, a ``file://`` URL or a plain folder path. A user
    pointing at a local copy must never wait on internet timeouts, so it replaces the defaults.
    A default mirror that is a local folder (a packaged copy) is used first when it exists and
    skipped with a log line when it does not: most machines simply lack the package.
    """
    if user_mirror is None or not user_mirror.strip():
        return [mirror for mirror in spec.mirrors if _default_mirror_present(spec, mirror)]
    mirror = user_mirror.strip()
    if "://" in mirror:
        scheme = urllib.parse.urlsplit(mirror).scheme.lower()
        if scheme not in ("http", "https", "file"):
            where = f"--mirror or ${spec.mirror_env}" if spec.mirror_env else "--mirror"
            raise ConfigError(
                f"mirror {mirror!r}: expected an http(s):// URL, a file:// URL or a folder "
                f"path, found the scheme {scheme!r}; pass one of those with {where}"
            )
        return [mirror]
    return [str(Path(mirror).expanduser())]


def _default_mirror_present(spec: DatasetSpec, mirror: str) -> bool:
    if "://" in mirror or Path(mirror).is_dir():
        return True
    logger.info("%s: skipping the local mirror %s (no such folder)", spec.name, mirror)
    return False


def fetch_dataset(spec: DatasetSpec, mirrors: Sequence[str], raw_dir: Path, *,
                  timeout: float = 30.0, retries: int = 3,
                  on_progress: Callable[[DownloadProgress], None] | None = None,
                  backoff: float = 1.0, min_rate: float = MIN_RATE) -> dict[str, Path]:
    """Make every file of ``spec`` present and verified in ``raw_dir``; return role -> path.

    Each path is ``raw_dir / IdxFile.name``, the decompressed payload whose sha256 matched.
    Files already there and verified are not fetched again. ``timeout`` bounds every network
    operation and is the window over which a transfer must average ``min_rate`` bytes/s; one
    file from one mirror may take ``DEADLINE_FACTOR * timeout`` seconds at most. ``retries`` is
    the number of attempts per mirror on transient failures, and ``backoff`` the first delay
    in seconds (doubled per attempt, with jitter). A mirror that
    stayed unreachable is not tried again for the remaining files. Raises DataError naming
    each mirror and why it failed when no mirror provides a file.
    """
    if not mirrors:
        raise ConfigError("no mirror to fetch from: pass --mirror /path/to/folder or a URL")
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random()
    unreachable: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for role, idx_file in spec.files.items():
        paths[role] = raw_dir / idx_file.name
        if _is_verified(paths[role], idx_file):
            continue
        failures = []
        for mirror in mirrors:
            if mirror in unreachable:
                failures.append((mirror, f"skipped: unreachable ({unreachable[mirror]})"))
                continue
            try:
                _fetch_with_retries(mirror, idx_file, paths[role],
                                    Pace(timeout, min_rate), retries=retries,
                                    backoff=backoff, rng=rng, on_progress=on_progress)
                break
            except _MirrorError as failure:
                logger.warning("mirror %s failed for %s: %s", mirror, idx_file.name, failure)
                failures.append((mirror, str(failure)))
                if failure.transient:
                    unreachable[mirror] = str(failure)
        else:
            raise DataError(_all_failed_message(spec, idx_file, failures))
    return paths


def _is_verified(path: Path, idx_file: IdxFile) -> bool:
    if not path.is_file():
        return False
    if path.stat().st_size == idx_file.size and sha256_file(path) == idx_file.sha256:
        return True
    # Remove it now, so a failed fetch cannot leave it for a later run to take as complete.
    logger.warning("%s exists but does not match its sha256; removing it and fetching again", path)
    path.unlink()
    return False


def _all_failed_message(spec: DatasetSpec, idx_file: IdxFile,
                        failures: Sequence[tuple[str, str]]) -> str:
    lines = [f"could not get {idx_file.remote_name} ({spec.name}) from any mirror:"]
    lines += [f"  - {mirror}: {reason}" for mirror, reason in failures]
    names = ", ".join(f.remote_name for f in spec.files.values())
    variable = f" or the environment variable {spec.mirror_env}" if spec.mirror_env else ""
    lines.append(
        f"If you have a copy of the files ({names}), point at its folder with "
        f"--mirror /path/to/folder{variable}."
    )
    return "\n".join(lines)


def _fetch_with_retries(mirror: str, idx_file: IdxFile, destination: Path, pace: Pace, *,
                        retries: int, backoff: float, rng: random.Random,
                        on_progress: Callable[[DownloadProgress], None] | None) -> None:
    """One mirror, one file: retry transient failures, raise _MirrorError when done trying."""
    attempts = max(retries, 1)
    for attempt in range(1, attempts + 1):
        try:
            _fetch_once(mirror, idx_file, destination, pace, on_progress)
            return
        except _MirrorError as failure:
            if not failure.transient:
                raise
            if attempt == attempts:
                raise _MirrorError(f"{failure} ({attempts} attempts)", transient=True) from None
            delay = backoff * 2 ** (attempt - 1) * rng.uniform(0.5, 1.5)
            logger.info("%s from %s: %s; retrying in %.1f s", idx_file.remote_name, mirror,
                        failure, delay)
            time.sleep(delay)


def _fetch_once(mirror: str, idx_file: IdxFile, destination: Path, pace: Pace,
                on_progress: Callable[[DownloadProgress], None] | None) -> None:
    """Stream one file from one mirror into ``destination``, verified, or raise."""
    scheme = urllib.parse.urlsplit(mirror).scheme.lower() if "://" in mirror else ""
    if scheme in ("http", "https"):
        url = mirror.rstrip("/") + "/" + idx_file.remote_name
        with _open_url(url, pace.timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            _stream_to(response, idx_file, destination, total, on_progress, gzipped=True,
                       pace=pace.start())
        return
    folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(mirror).path)
                  if scheme == "file" else mirror)
    _copy_local(folder, idx_file, destination, on_progress)


def _open_url(url: str, timeout: float) -> http.client.HTTPResponse:
    opener = urllib.request.build_opener(_NoDowngradeRedirectHandler)
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-flow"})
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        transient = error.code >= 500 or error.code in _TRANSIENT_HTTP
        raise _MirrorError(f"HTTP {error.code} {error.reason}", transient=transient) from None
    except urllib.error.URLError as error:
        # A bad certificate will not fix itself within a retry.
        transient = not isinstance(error.reason, ssl.SSLError)
        raise _MirrorError(_describe(error.reason), transient=transient) from None
    except (OSError, http.client.HTTPException) as error:
        raise _MirrorError(_describe(error), transient=True) from None


def _copy_local(folder: Path, idx_file: IdxFile, destination: Path,
                on_progress: Callable[[DownloadProgress], None] | None) -> None:
    """From a folder holding ``name.gz`` or, as unpacked by hand, the payload ``name``."""
    for name, gzipped in ((idx_file.remote_name, True), (idx_file.name, False)):
        source = folder / name
        if source.is_file():
            try:
                with open(source, "rb") as stream:
                    _stream_to(stream, idx_file, destination, source.stat().st_size,
                               on_progress, gzipped=gzipped)
            except OSError as error:
                raise _MirrorError(f"cannot read {source}: {error}") from None
            return
    raise _MirrorError(f"no file {idx_file.remote_name} or {idx_file.name} in {folder}")


def _stream_to(stream: BinaryIO, idx_file: IdxFile, destination: Path, total: int | None,
               on_progress: Callable[[DownloadProgress], None] | None, *, gzipped: bool,
               pace: Pace | None = None) -> None:
    """Decompress ``stream`` into a temporary file, verify it, and rename it to ``destination``.

    ``read1`` returns whatever one ``recv`` brought, so ``pace`` sees a trickle byte by byte
    (``read`` would wait for the whole chunk, and each byte resets the socket timeout).
    """
    progress = Progress(idx_file.remote_name, total, on_progress)
    gunzip = BoundedGunzip(idx_file.size, gzipped=gzipped)
    try:
        with atomic_path(destination) as tmp, open(tmp, "wb") as out:
            while chunk := stream.read1(_CHUNK):
                out.write(gunzip.feed(chunk))
                progress.update(len(chunk))
                if pace is not None:
                    pace.check(len(chunk))
            if total is not None and progress.done < total:
                # a dropped connection reads as a clean end: blame the network, not the file
                missing = total - progress.done
                raise _MirrorError(_describe(http.client.IncompleteRead(b"", missing)),
                                   transient=True)
            gunzip.finish(idx_file.sha256)
            progress.finish()
    except PayloadError as error:
        raise _MirrorError(str(error)) from None
    except StalledTransferError as error:
        raise _MirrorError(str(error), transient=True) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise _MirrorError(_describe(error), transient=True) from None


def _describe(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, http.client.IncompleteRead):
        return "the connection closed before the whole file arrived"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)
