"""orcli.wire.content_encoding: Content-Encoding undone incrementally, in bounded pieces, and only for what
orcli advertises (docs/failures.md#failure-classes)."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orcli.wire.content_encoding import ACCEPT_ENCODING, PIECE, BodyDecodeError, decode_pieces

BODY = os.urandom(3000) + b'{"content": "' + b"a" * 3_000_000 + b'"}' + os.urandom(500)


def encode(data: bytes, encoding: str) -> bytes:
    match encoding:
        case "gzip" | "x-gzip":
            return gzip.compress(data)
        case "deflate":
            return zlib.compress(data)
        case "raw-deflate":
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            return c.compress(data) + c.flush()
        case "gzip, deflate":  # applied in order: gzip first, then deflate
            return zlib.compress(gzip.compress(data))
    raise AssertionError(encoding)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate", "gzip, deflate"])
@pytest.mark.parametrize("size", [7, 4096, 1 << 30])
def test_every_advertised_encoding_decodes_in_bounded_pieces(encoding: str, size: int) -> None:
    header = "deflate" if encoding == "raw-deflate" else encoding
    pieces = list(decode_pieces(header, iter(chunked(encode(BODY, encoding), size))))
    assert b"".join(pieces) == BODY
    assert max(len(p) for p in pieces) <= PIECE  # 3 MB of "a" compresses to a few KB: never one big piece


def test_a_decompression_bomb_arrives_piece_by_piece() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # ~64 KiB on the wire
    pieces = decode_pieces("gzip", iter([bomb]))
    first = next(pieces)
    assert len(first) <= PIECE  # the consumer can stop here, long before 64 MiB exist in memory


def test_no_encoding_or_identity_passes_the_chunks_through_untouched() -> None:
    chunks = [b"a", b"b"]
    assert list(decode_pieces(None, iter(chunks))) == chunks
    assert list(decode_pieces("identity", iter(chunks))) == chunks


def test_several_gzip_members_are_one_body() -> None:
    data = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert b"".join(decode_pieces("gzip", iter(chunked(data, 3)))) == b"hello world"


@pytest.mark.parametrize("header", ["br", "zstd", "gzip, br", "compress"])
def test_an_encoding_orcli_did_not_ask_for_is_refused(header: str) -> None:
    assert header.split(",")[-1].strip() not in ACCEPT_ENCODING
    with pytest.raises(BodyDecodeError, match="did not ask for"):
        list(decode_pieces(header, iter([b"x"])))


def test_a_body_that_does_not_decompress_raises() -> None:
    with pytest.raises(BodyDecodeError, match="gzip"):
        list(decode_pieces("gzip", iter([b"not gzip at all"])))


@given(st.binary(max_size=20_000), st.integers(1, 5000), st.sampled_from(["gzip", "deflate", "raw-deflate"]))
def test_any_body_in_any_chunking_round_trips(data: bytes, size: int, encoding: str) -> None:
    header = "deflate" if encoding == "raw-deflate" else encoding
    assert b"".join(decode_pieces(header, iter(chunked(encode(data, encoding), size)))) == data


def test_an_error_page_labelled_gzip_but_sent_plain_is_passed_on_as_it_came() -> None:
    body = b'{"error": {"message": "maximum context length is 8192 tokens"}}'
    assert b"".join(decode_pieces("gzip", iter(chunked(body, 7)), plain_when_undecodable=True)) == body
    assert b"".join(decode_pieces("br", iter([body]), plain_when_undecodable=True)) == body
    real = gzip.compress(body)
    assert b"".join(decode_pieces("gzip", iter(chunked(real, 5)), plain_when_undecodable=True)) == body
    with pytest.raises(BodyDecodeError):  # an answer is never guessed at: only error pages are read plain
        list(decode_pieces("gzip", iter([body])))


def test_a_body_that_breaks_after_decoding_began_is_not_passed_on_plain() -> None:
    broken = gzip.compress(b"x" * 100_000)[:200] + b"garbage that is not deflate" * 10
    with pytest.raises(BodyDecodeError):
        list(decode_pieces("gzip", iter(chunked(broken, 50)), plain_when_undecodable=True))
