"""Build a dialect's request and put a static key where its auth scheme says (what orcli/auth's header
scheme does for an attempt): the wire tests check the whole request a provider would receive."""

from __future__ import annotations

from orcli.wire.base import with_key


def signed(dialect, provider, endpoint, request, key, stream):
    return with_key(dialect.build_request(provider, endpoint, request, stream), dialect.auth(provider), key)
