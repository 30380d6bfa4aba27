"""Bounded, verifying gunzip: a download is decompressed as it arrives, never past its size.

A wrong file or a gzip bomb stops at one byte past the expected payload size instead of filling
the disk; the sha256 of the payload is computed on the way, so verification needs no second pass.
"""

from __future__ import annotations

import hashlib
import zlib


class PayloadError(Exception):
    """The bytes from a mirror are not the expected payload."""


class BoundedGunzip:
    """Incremental gunzip that never yields more than ``limit`` bytes and hashes what it yields.

    ``gzipped=False`` passes bytes through (a payload unpacked by hand) with the same checks.
    Several concatenated gzip members are accepted, as ``gzip -d`` does; zero padding after the
    last member is ignored.
    """

    def __init__(self, limit: int, *, gzipped: bool) -> None:
        self.limit, self.size = limit, 0
        self.digest = hashlib.sha256()
        self.head = b""
        self._inflater = zlib.decompressobj(wbits=31) if gzipped else None

    def feed(self, data: bytes) -> bytes:
        """Decompress the next compressed bytes; return the payload bytes they produce."""
        if self._inflater is None:
            return self._accept(data)
        pieces = []
        while data:
            if self._inflater.eof:
                if not data.strip(b"\0"):
                    break
                self._inflater = zlib.decompressobj(wbits=31)
            try:
                # max_length: inflate at most one byte past the limit, so a bomb stops here
                piece = self._inflater.decompress(data, self.limit - self.size + 1)
            except zlib.error as error:
                raise PayloadError(f"not a valid gzip stream ({error})") from None
            pieces.append(self._accept(piece))
            data = self._inflater.unconsumed_tail or self._inflater.unused_data
        return b"".join(pieces)

    def _accept(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.limit:
            raise PayloadError(
                f"decompresses to more than the expected {self.limit} bytes; refused "
                "(a different file, or a gzip bomb)"
            )
        if len(self.head) < 4:
            self.head += piece[: 4 - len(self.head)]
        self.digest.update(piece)
        return piece

    def finish(self, sha256: str) -> None:
        """Raise PayloadError unless the stream ended cleanly with the expected payload."""
        if self._inflater is not None and not self._inflater.eof:
            raise PayloadError("the gzip stream is truncated (no end-of-stream marker)")
        if self.size != self.limit:
            raise PayloadError(f"decompresses to {self.size} bytes, expected {self.limit}")
        if self.digest.hexdigest() != sha256:
            magic = int.from_bytes(self.head, "big")
            raise PayloadError(
                f"sha256 of the payload is {self.digest.hexdigest()}, expected {sha256} "
                f"(its IDX magic number reads {magic}); the mirror serves a different or "
                "corrupted file"
            )
