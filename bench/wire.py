"""A lean HTTP/1.1 keep-alive client for the load phases.

The load generator shares the machine's two cores with the servers it measures, so whatever it
spends per request is taken from them. httpx spends about a millisecond of CPU per request (a
``/healthz`` loop at c=8 used a whole core and capped the server at ~530 requests/s); this
client writes a prepared request and reads ``Content-Length`` or chunked bodies straight from
asyncio streams, a few tens of microseconds. It speaks only what the benchmark needs: one
host, keep-alive, no redirects, no TLS, no compression.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

__all__ = ["WireClient", "WireError", "WireResponse"]


class WireError(Exception):
    """The connection broke, timed out or answered something that is not HTTP/1.1."""

    kind = "wire_error"


@dataclass
class WireResponse:
    status_code: int
    headers: dict[str, str]
    content: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        if not 200 <= self.status_code < 300:
            raise WireError(f"HTTP {self.status_code}: {self.text[:200]}")


_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WireClient:
    """Up to ``connections`` keep-alive connections to ``host:port``; an async context manager."""

    def __init__(self, host: str, port: int, connections: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)

    def idle_connections(self) -> int:
        return len(self._idle)

    async def get(self, path: str) -> WireResponse:
        return await self.request("GET", path)

    async def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> WireResponse:
        return await self.request("POST", path, content, headers)

    async def post_chunked(
        self, path: str, chunks: Iterable[bytes], headers: dict[str, str] | None = None
    ) -> WireResponse:
        """POST with ``Transfer-Encoding: chunked``, one chunk per item: a streamed upload."""
        return await self.request("POST", path, _chunked(chunks), headers)

    async def request(
        self, method: str, path: str, body: bytes | AsyncIterator[bytes] = b"", headers: dict[str, str] | None = None
    ) -> WireResponse:
        async with self._slots:
            reader, writer = self._idle.pop() if self._idle else await self._connect()
            try:
                response = await asyncio.wait_for(
                    self._exchange(reader, writer, method, path, body, headers), self.timeout_s
                )
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
                writer.close()
                raise WireError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if response.headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self._idle.append((reader, writer))
            return response

    async def _connect(self) -> _Connection:
        try:
            return await asyncio.wait_for(asyncio.open_connection(self.host, self.port, limit=2**20), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise WireError(f"connect to {self.host}:{self.port}: {exc}") from exc

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        body: bytes | AsyncIterator[bytes],
        headers: dict[str, str] | None,
    ) -> WireResponse:
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if isinstance(body, bytes):
            lines.append(f"content-length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        else:
            lines.append("transfer-encoding: chunked")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            async for chunk in body:
                writer.write(chunk)
                await writer.drain()
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        response_headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if "content-length" in response_headers:
            content = await reader.readexactly(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            content = await _read_chunked(reader)
        else:
            content = await reader.read()  # delimited by the server closing the connection
            response_headers["connection"] = "close"
        return WireResponse(int(parts[1]), response_headers, content)


async def _chunked(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    yield b"0\r\n\r\n"


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    pieces: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(pieces)
        pieces.append(await reader.readexactly(size))
        await reader.readexactly(2)
