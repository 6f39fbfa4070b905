"""The same methods through ``AsyncClient``: awaited, listings with ``async for``, files
streamed with ``async with``; errors and progress as the synchronous client has them."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from dataloft_client import AsyncClient, NotFound, PutFile, PutRecord
from tests.conftest import User
from tests.support import LiveServer, unique


def test_a_round_trip_through_the_async_client(
    server: LiveServer, alice: User, tmp_path: Path
) -> None:
    data = b"async bytes " * 10_000
    source = tmp_path / "data.bin"
    source.write_bytes(data)

    async def main() -> None:
        async with AsyncClient(server.url, alice.token) as client:
            me = await client.whoami()
            assert me.user.username == alice.username
            dataset = await client.create_dataset(unique("async"), description="async")
            repo = dataset.repo
            seen: list[int] = []
            written = await client.upload_file(repo, "a/data.bin", source, progress=seen.append)
            assert written.outcome == "added" and sum(seen) == len(data)
            digest = await client.upload_blob(b"blob")
            assert await client.has_blob(digest)
            assert await client.missing_blobs([digest]) == []
            made = await client.commit(
                repo, [PutFile("b.txt", digest), PutRecord("r", {"n": 1})], parent=1
            )
            assert made.version.number == 2

            paths = [entry.path async for entry in client.list_files(repo)]
            assert paths == ["a/data.bin", "b.txt"]
            assert [e.path async for e in client.list_records(repo)] == ["r"]
            assert await client.get_record(repo, "r") == {"n": 1}
            assert await client.read_file(repo, "a/data.bin", start=6, end=11) == b"bytes"
            async with client.open_file(repo, "a/data.bin") as stream:
                assert stream.info.size == len(data)
                assert await stream.aread() == data
            dest = tmp_path / "out" / "data.bin"
            info = await client.download_file(repo, "a/data.bin", dest)
            assert info.sha256 == hashlib.sha256(data).hexdigest()
            assert dest.read_bytes() == data
            changes = [(d.change, d.path) async for d in client.diff(repo, 1, 2)]
            assert changes == [("added", "b.txt"), ("added", "r")]
            versions = [v.number async for v in client.list_versions(repo)]
            assert versions == [2, 1, 0]
            history = [e.kind async for e in client.list_events(dataset=repo)]
            assert history == ["dataset.create", "commit", "commit"]
            archive = await client.download_archive(repo, tmp_path / "all.tar", format="tar")
            assert archive.stat().st_size > len(data)

            await client.delete_dataset(repo)
            with pytest.raises(NotFound) as caught:
                await client.get_dataset(repo)
            assert caught.value.status == 404

    asyncio.run(main())
