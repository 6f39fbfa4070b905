"""``dataloft fsck``: a server's blobs checked against its database, through the real
command (typer's runner, as ``test_cli.py`` runs commands), on a server of its own per
test (its own database of the session's kind and its own blob directory), damaged by hand
the way disks and people damage them."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from tests.functional.test_cli import Env, base_env, invoke
from tests.support import LiveServer, own_server, sha, unique

STORED = 50_000  # bytes: over the inline limit (4 KiB), so kept in the store
DAY = 24 * 3600


@dataclass
class Site:
    server: LiveServer
    loft: Loft
    client: httpx.Client  # a writer's, on the native API
    dataset: str  # its API path
    blobs: Path  # the blob directory
    env: Env  # the environment a command on this server runs with

    def fsck(self, *args: str) -> tuple[int, list[str]]:
        ran = invoke("fsck", *args, env=self.env)
        return ran.returncode, ran.stdout.splitlines()

    def put(self, path: str, data: bytes) -> str:
        response = self.client.put(f"{self.dataset}/files/{path}", content=data)
        assert response.status_code == 201, response.text
        digest: str = response.json()["entry"]["sha256"]
        return digest

    def read(self, path: str) -> httpx.Response:
        return self.client.get(f"{self.dataset}/files/{path}")

    def stored(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest[2:4] / digest

    def missing(self, *digests: str) -> list[str]:
        response = self.client.post("/blobs/missing", json={"sha256": list(digests)})
        assert response.status_code == 200, response.text
        found: list[str] = response.json()["missing"]
        return found

    def upload(self, data: bytes) -> None:
        response = self.client.put(f"/blobs/{sha(data)}", content=data)
        assert response.status_code in (200, 201), response.text


@pytest.fixture
def site(settings: Settings, tmp_path: Path) -> Iterator[Site]:
    with own_server(settings, tmp_path / "site") as (server, loft):
        username = unique("keeper")
        loft.accounts.create_user(SYSTEM, username, "password-" + unique())
        token = loft.auth.create_token(SYSTEM, username=username, name="t").secret
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url + "/loft/v1", headers=headers, timeout=30) as client:
            name = unique("ds")
            assert client.post("/datasets", json={"name": name}).status_code == 201
            own = loft.settings
            env = base_env(
                DATALOFT_DATA_DIR=str(own.data_dir),
                DATALOFT_DATABASE_URL=own.database_url,
                DATALOFT_BLOB_URL=own.blob_url,
            )
            yield Site(
                server, loft, client, f"/datasets/{username}/{name}", own.data_dir / "blobs", env
            )


def flip_a_byte(path: Path) -> None:
    path.chmod(0o644)  # stored blobs are read-only
    with path.open("r+b") as file:
        file.seek(1234)
        byte = file.read(1)
        file.seek(1234)
        file.write(bytes([byte[0] ^ 0xFF]))


def plant_orphan(site: Site, age_seconds: float) -> str:
    """An object in the store that no row names, last written ``age_seconds`` ago."""
    data = os.urandom(STORED)
    digest = sha(data)
    path = site.stored(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return digest


def test_a_sound_store_is_clean(site: Site) -> None:
    site.put("big.bin", os.urandom(STORED))
    site.put("small.txt", b"small")
    status, out = site.fsck()
    assert status == 0, out
    assert out[-1] == (
        f"checked 1 stored blobs ({STORED} bytes) and 1 inline blobs: "
        "0 missing, 0 corrupt, 0 orphans"
    )


def test_damage_is_found_and_nothing_changed_without_repair(site: Site) -> None:
    corrupt = site.put("data/corrupt.bin", os.urandom(STORED))
    gone = site.put("data/gone.bin", os.urandom(STORED))
    site.put("data/sound.bin", os.urandom(STORED))
    inline = site.put("small.txt", b"a small file, kept in its row")
    flip_a_byte(site.stored(corrupt))
    site.stored(gone).unlink()
    with site.loft.db.write() as session:
        session.execute(update(Blob).where(Blob.digest == inline).values(data=b"b small file"))
    orphan = plant_orphan(site, 2 * DAY)
    recent = plant_orphan(site, 0)

    status, out = site.fsck("--jobs", "2")

    assert status == 1
    assert f"missing {gone} ({STORED} bytes)" in out
    assert any(
        line.startswith(f"corrupt {corrupt} (in the store: the bytes hash to ") for line in out
    )
    assert f"corrupt {inline} (in its database row: 12 bytes stored, 29 recorded)" in out
    assert f"orphan {orphan} ({STORED} bytes)" in out
    assert not any(recent in line for line in out)  # an upload in progress, by its age
    address = site.dataset.removeprefix("/datasets/")
    assert out[out.index(f"missing {gone} ({STORED} bytes)") + 1] == (
        f"  used by {address} version 2 on: file data/gone.bin"
    )
    assert out[-1].endswith("1 missing, 2 corrupt, 1 orphans")
    # Nothing changed: the orphans and the damaged bytes are where they were.
    assert site.stored(orphan).exists() and site.stored(recent).exists()
    assert sha(site.stored(corrupt).read_bytes()) != corrupt
    assert site.fsck()[0] == 1


def test_repair_marks_lost_blobs_so_that_an_upload_heals_them(site: Site) -> None:
    """Without a backup, repair removes the corrupt bytes and marks what is gone as lost:
    the server then asks clients for those bytes (instead of saying it has them), reads
    fail rather than serve wrong bytes, and uploading the same bytes heals the blob."""
    contents = {name: os.urandom(STORED) for name in ("corrupt.bin", "gone.bin")}
    contents["small.txt"] = b"a small file, kept in its row"
    digests = {name: site.put(name, data) for name, data in contents.items()}
    flip_a_byte(site.stored(digests["corrupt.bin"]))
    site.stored(digests["gone.bin"]).unlink()
    with site.loft.db.write() as session:
        damaged = update(Blob).where(Blob.digest == digests["small.txt"])
        session.execute(damaged.values(data=b"b small file"))
    orphan = plant_orphan(site, 2 * DAY)
    # Before the repair the server still believes it holds every one of them.
    assert site.missing(*digests.values()) == []

    status, out = site.fsck("--repair")

    assert status == 1
    assert "  repair: deleted" in out
    assert (
        "  repair: removed from the store, marked lost (no backup given): upload the same "
        "bytes again to heal it"
    ) in out
    assert not site.stored(orphan).exists()
    assert not site.stored(digests["corrupt.bin"]).exists()
    assert out[-1] == "3 blobs are marked lost until someone uploads them again"
    assert site.missing(*digests.values()) == list(digests.values())
    for name in contents:
        assert site.read(name).status_code == 500  # the bytes are lost: never wrong ones
    # A commit naming a lost blob is asked for the bytes too.
    change = {"op": "put_file", "path": "copy.bin", "sha256": digests["gone.bin"]}
    assert (
        site.client.post(f"{site.dataset}/commits", json={"changes": [change]}).status_code == 400
    )

    for data in contents.values():
        site.upload(data)

    assert site.missing(*digests.values()) == []
    for name, data in contents.items():
        assert site.read(name).content == data
    status, out = site.fsck()
    assert status == 0, out


def test_repair_restores_from_a_backup(site: Site, tmp_path: Path) -> None:
    contents = {name: os.urandom(STORED) for name in ("corrupt.bin", "gone.bin", "bad.bin")}
    digests = {name: site.put(name, data) for name, data in contents.items()}
    backup = tmp_path / "backup"
    shutil.copytree(site.blobs, backup)
    flip_a_byte(site.stored(digests["corrupt.bin"]))
    site.stored(digests["gone.bin"]).unlink()
    site.stored(digests["bad.bin"]).unlink()
    flip_a_byte(backup / site.stored(digests["bad.bin"]).relative_to(site.blobs))

    status, out = site.fsck("--repair", "--from", f"file://{backup}")

    assert status == 1
    assert out.count("  repair: restored from the backup") == 2
    assert any("the backup's copy is corrupt too (the bytes hash to" in line for line in out)
    for name in ("corrupt.bin", "gone.bin"):
        assert site.read(name).content == contents[name]
    assert site.fsck()[0] == 1  # bad.bin is still lost
    site.upload(contents["bad.bin"])
    status, out = site.fsck()
    assert status == 0, out


def test_restoring_needs_repair(site: Site) -> None:
    ran = invoke("fsck", "--from", "file:///nowhere", env=site.env)
    assert ran.returncode == 2
    assert "needs --repair" in ran.stderr
    ran = invoke("fsck", "--repair", "--from", "s3x://bucket", env=site.env)
    assert ran.returncode == 2
    assert "unknown blob store scheme" in ran.stderr
