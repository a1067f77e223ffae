"""Compressed response bodies (`Content-Encoding`), decoded incrementally and in bounded pieces. Standard
library only: orcli advertises exactly the encodings it decodes here (docs/failures.md#failure-classes), gzip and deflate.

Each compressed chunk becomes pieces of at most `PIECE` bytes, however well it compresses: a small body that
inflates to gigabytes reaches the executor piece by piece, where the 32 MiB answer cap stops it, and memory
stays bounded by the cap, never by the compression ratio.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"  # what every request advertises: brotli and zstd would need extra packages
PIECE = 256 * 1024


class BodyDecodeError(Exception):
    """A body in an encoding orcli did not ask for, or one that does not decompress."""


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip (possibly several members) or deflate (zlib-wrapped as RFC 9110 says, or raw as some servers send)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wbits = zlib.MAX_WBITS | 16 if name == "gzip" else zlib.MAX_WBITS
        self.d = zlib.decompressobj(self.wbits)
        self.head = b""  # deflate: the first bytes, until the 2-byte zlib header has been checked
        self.settled = name != "deflate"

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self.settled:
            self.head += data
        while data:
            try:
                out = self.d.decompress(data, PIECE)
            except zlib.error as exc:
                if not self.settled:
                    # Not zlib-wrapped: raw deflate, as some servers send it. Start again from the first byte.
                    self.wbits, self.settled, data = -zlib.MAX_WBITS, True, self.head
                    self.d = zlib.decompressobj(self.wbits)
                    continue
                raise BodyDecodeError(f"the {self.name} body does not decompress ({exc})") from None
            if not self.settled and len(self.head) >= 2:
                self.settled, self.head = True, b""  # the zlib header passed its check
            if out:
                yield out
            if self.d.eof:
                data = self.d.unused_data
                if data and self.name == "gzip":
                    self.d = zlib.decompressobj(self.wbits)  # the next gzip member
                    continue
                return  # bytes after the end of a deflate stream are ignored, as decoders do
            data = self.d.unconsumed_tail
            if not data and len(out) == PIECE:
                yield from self._drain()  # the input is in, but output may still be pending

    def _drain(self) -> Iterator[bytes]:
        while not self.d.eof:
            out = self.d.decompress(b"", PIECE)
            if not out:
                return
            yield out

    def flush(self) -> Iterator[bytes]:
        yield from self._drain()


class _Chain:
    """Several encodings, applied in the order listed: decoded in reverse (RFC 9110 §8.4)."""

    def __init__(self, decoders: list[_Zlib]) -> None:
        self.decoders = decoders  # in decoding order

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(self.decoders, iter((data,)))

    def flush(self) -> Iterator[bytes]:
        for i, decoder in enumerate(self.decoders):
            yield from self._through(self.decoders[i + 1 :], decoder.flush())

    @staticmethod
    def _through(decoders: list[_Zlib], pieces: Iterator[bytes]) -> Iterator[bytes]:
        for decoder in decoders:
            pieces = _fed(decoder, pieces)
        return pieces


def _fed(decoder: _Zlib, pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.feed(piece)


def body_decoder(content_encoding: str | None) -> _Identity | _Zlib | _Chain:
    """A decoder for a response's `Content-Encoding`; BodyDecodeError for an encoding orcli cannot decode."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",")]
    names = [n for n in names if n and n != "identity"]
    if not names:
        return _Identity()
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise BodyDecodeError(f"the body is encoded as {name[:40]!r}, which orcli did not ask for")
    decoders = [_Zlib("gzip" if n == "x-gzip" else n) for n in reversed(names)]
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)


def decode_pieces(
    content_encoding: str | None, chunks: Iterator[bytes], *, plain_when_undecodable: bool = False
) -> Iterator[bytes]:
    """The decoded body of `chunks` (raw bytes as they came off the network), piece by piece.

    `plain_when_undecodable` (for error pages): a body that fails to decode before yielding anything is passed
    on as it came. Proxies label plain error pages `gzip`; their words still say what went wrong (a context
    length error must not be classified by its status alone)."""
    try:
        decoder = body_decoder(content_encoding)
    except BodyDecodeError:
        if plain_when_undecodable:
            return chunks
        raise
    if isinstance(decoder, _Identity):
        return chunks  # the common case costs nothing per chunk
    if plain_when_undecodable:
        return _decoded_or_plain(decoder, chunks)
    return _decoded(decoder, chunks)


def _decoded(decoder: _Zlib | _Chain, chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


PLAIN_SNIFF_LIMIT = 64 * 1024  # raw bytes kept while nothing has decoded yet (an error page is read for 64 KiB)


def _decoded_or_plain(decoder: _Zlib | _Chain, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Like `_decoded`, but a body that fails before its first decoded byte comes out raw instead."""
    seen = bytearray()
    produced = False
    for chunk in chunks:
        try:
            for piece in decoder.feed(chunk):
                produced = True
                yield piece
        except BodyDecodeError:
            if produced or len(seen) > PLAIN_SNIFF_LIMIT:
                raise
            yield bytes(seen) + chunk
            yield from chunks
            return
        if not produced:
            seen += chunk
    yield from decoder.flush()
