"""What ``open_file`` yields: a file's response, read as it arrives, with what its headers
say of the file. One class per executor, since reading is where they differ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx

from dataloft_client._exceptions import from_httpx
from dataloft_client.models import FileInfo


class _Stream:
    def __init__(self, info: FileInfo, response: httpx.Response) -> None:
        self.info = info
        self.response = response

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers


class FileStream(_Stream):
    """A file being read (``with client.open_file(...) as f``): ``iter_bytes()`` gives its
    bytes in chunks as they arrive, ``read()`` all of them; ``info`` has its size, sha256,
    media type and version."""

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        try:
            yield from self.response.iter_bytes(chunk_size)
        except httpx.TransportError as exc:
            raise from_httpx(exc) from exc

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())


class AsyncFileStream(_Stream):
    """A file being read (``async with client.open_file(...) as f``): ``aiter_bytes()``
    gives its bytes in chunks as they arrive, ``aread()`` all of them."""

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.TransportError as exc:
            raise from_httpx(exc) from exc

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])
