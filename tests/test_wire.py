"""bench/wire.py: the benchmark's HTTP/1.1 client reads both body framings and reuses connections."""

from __future__ import annotations

import asyncio

import pytest

from bench.wire import WireClient, WireError


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: list[str]) -> None:
    """Answers /fixed with Content-Length, /chunked with chunks, echoing chunked uploads, /close by closing."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
            body = b""
            if "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:
                    body += await reader.readexactly(size)
                    await reader.readexactly(2)
                await reader.readexactly(2)
            path = request_line.split(" ")[1]
            log.append(f"{request_line.split(' ')[0]} {path} {body.decode()}")
            if path == "/chunked":
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                for piece in (b'{"a":', body or b"1", b"}"):
                    writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                writer.write(b"0\r\n\r\n")
            elif path == "/close":
                writer.write(b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbusy")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body) + 2, b"<" + body + b">"))
            await writer.drain()
    except asyncio.IncompleteReadError:
        writer.close()


async def _exercise() -> tuple[list[object], list[str], int]:
    log: list[str] = []
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _serve(reader, writer, log)

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, WireClient("127.0.0.1", port, connections=1, timeout_s=5) as client:
        fixed = await client.post("/fixed", b"hello", {"content-type": "text/plain"})
        streamed = await client.post_chunked("/chunked", [b"2", b"3"])
        got = await client.get("/fixed")
        closed = await client.get("/close")
        again = await client.get("/fixed")
        results: list[object] = [
            fixed.content,
            streamed.json(),
            got.content,
            (closed.status_code, closed.text),
            again.status_code,
        ]
    return results, log, connections


def test_reads_content_length_and_chunked_bodies_and_reconnects_after_close() -> None:
    results, log, connections = asyncio.run(_exercise())
    assert results == [b"<hello>", {"a": 23}, b"<>", (503, "busy"), 200]
    assert log == ["POST /fixed hello", "POST /chunked 23", "GET /fixed ", "GET /close ", "GET /fixed "]
    assert connections == 2  # kept alive until the server said close, then one new connection


def test_a_refused_connection_is_a_wire_error() -> None:
    async def attempt() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with WireClient("127.0.0.1", port, connections=1, timeout_s=2) as client:
            await client.get("/")

    with pytest.raises(WireError):
        asyncio.run(attempt())
