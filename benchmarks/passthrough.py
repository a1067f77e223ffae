"""The floor for serve_bench.py: a minimal asyncio pass-through in front of the same fake upstream.

    python benchmarks/passthrough.py UPSTREAM_BASE_URL     (prints {"listening": "http://127.0.0.1:PORT/v1"})

It reads a request's head and body, sends them on to the upstream unchanged (the path's `/v1` becomes the
upstream base URL's path) and copies the answer's bytes back until the upstream closes. No routing, no JSON,
no health store: what any relay must at least cost, measured in the same run as orcli serve.
"""

from __future__ import annotations

import asyncio
import json
import sys
from urllib.parse import urlsplit


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int, base: str) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ", 2)
        kept = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            if name.lower() not in ("host", "connection") and line:
                kept.append(line)
        body = await reader.readexactly(length) if length else b""
        up_reader, up_writer = await asyncio.open_connection(host, port)
        target = base + path.removeprefix("/v1")
        request = f"{method} {target} {version}\r\nHost: {host}:{port}\r\nConnection: close\r\n" + "\r\n".join(kept)
        up_writer.write(request.encode("latin-1") + b"\r\n\r\n" + body)
        await up_writer.drain()
        while chunk := await up_reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        up_writer.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(upstream: str) -> None:
    parts = urlsplit(upstream)
    host, port, base = parts.hostname or "127.0.0.1", parts.port or 80, parts.path.rstrip("/")
    server = await asyncio.start_server(lambda r, w: relay(r, w, host, port, base), "127.0.0.1", 0, backlog=512)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": f"http://127.0.0.1:{bound}/v1"}), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
