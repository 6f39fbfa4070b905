"""Every native resource through the synchronous ``Client``, against the live server:
what goes in comes back out, typed."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from dataloft_client import (
    BadRequest,
    Client,
    CommitResult,
    Conflict,
    DataloftError,
    Dataset,
    DeleteFile,
    DeleteRecord,
    Entry,
    NotFound,
    PreconditionFailed,
    PutFile,
    PutRecord,
    PutSymlink,
    Tag,
    WriteResult,
)
from tests.conftest import User
from tests.support import LiveServer, unique


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_datasets_are_made_found_changed_deleted_and_restored(sdk: Client, alice: User) -> None:
    name = unique("birds")
    made = sdk.create_dataset(
        name,
        description="Bird sightings",
        tags=["nature", "eu"],
        visibility="public",
        licence="MIT",
        metadata={"source": "field notes"},
    )
    assert isinstance(made, Dataset)
    assert (made.owner, made.name, made.version, made.visibility) == (
        alice.username,
        name,
        0,
        "public",
    )
    assert made.licence == "MIT" and made.tags == ["nature", "eu"]
    assert made.raw["uid"] == made.uid and made.created.tzinfo is not None
    repo = made.repo

    assert sdk.get_dataset(repo) == made
    again = sdk.create_dataset(name, exist_ok=True)
    assert again.uid == made.uid
    with pytest.raises(Conflict):
        sdk.create_dataset(name)

    mine = list(sdk.list_datasets(owner=alice.username, q=name))
    assert [d.uid for d in mine] == [made.uid]

    changed = sdk.update_dataset(
        repo, description="Birds!", metadata={"source": None, "region": "EU"}, licence=None
    )
    assert changed.description == "Birds!" and changed.metadata == {"region": "EU"}
    assert changed.licence is None
    renamed = sdk.update_dataset(repo, name=name + "-2")
    assert renamed.repo == f"{alice.username}/{name}-2"
    repo = renamed.repo

    sdk.delete_dataset(repo)
    with pytest.raises(NotFound):
        sdk.get_dataset(repo)
    assert made.uid in [d.uid for d in sdk.list_datasets(deleted=True)]
    restored = sdk.restore_dataset(repo, uid=made.uid)
    assert restored.deleted_at is None and restored.uid == made.uid

    sdk.delete_dataset(repo, purge=True)
    assert made.uid not in [d.uid for d in sdk.list_datasets(deleted=True)]


def test_files_go_up_and_come_back_whole_in_ranges_and_streams(
    sdk: Client, repo: str, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes
    written = sdk.upload_file(
        repo,
        "img/photo.bin",
        data,
        media_type="application/x-photo",
        metadata={"camera": "x100", "note": "ünïcode"},
        message="first photo",
    )
    assert isinstance(written, WriteResult)
    assert (written.version, written.outcome) == (1, "added")
    assert written.entry is not None and written.entry.sha256 == sha(data)
    assert written.entry.metadata == {"camera": "x100", "note": "ünïcode"}

    on_disk = tmp_path / "notes.txt"
    on_disk.write_text("hello birds\n")
    from_path = sdk.upload_file(repo, "docs/notes.txt", on_disk, parent=1)
    assert from_path.version == 2 and from_path.entry is not None
    assert from_path.entry.media_type == "text/plain"  # guessed by the server from the name
    with on_disk.open("rb") as file:
        file.read(6)  # a file is read from where it stands
        from_file = sdk.upload_file(repo, "docs/tail.txt", file)
    assert from_file.entry is not None and from_file.entry.size == len("birds\n")
    with pytest.raises(PreconditionFailed):
        sdk.upload_file(repo, "docs/late.txt", b"x", parent=1)

    odd = "odd/a ?#%..b/.."  # escaped segment by segment; '..' must not be resolved away
    with pytest.raises(BadRequest, match=r"\.\."):
        sdk.upload_file(repo, odd, b"x")
    fine = "odd/a ?#%b.txt"
    sdk.upload_file(repo, fine, b"odd")
    assert sdk.read_file(repo, fine) == b"odd"

    listed = list(sdk.list_files(repo, prefix="docs/"))
    assert [e.path for e in listed] == ["docs/notes.txt", "docs/tail.txt"]
    assert all(isinstance(e, Entry) and e.kind == "file" for e in listed)
    assert [e.path for e in sdk.list_files(repo, version=1)] == ["img/photo.bin"]

    assert sdk.read_file(repo, "img/photo.bin") == data
    assert sdk.read_file(repo, "img/photo.bin", start=10, end=20) == data[10:20]
    assert sdk.read_file(repo, "img/photo.bin", start=255_990) == data[255_990:]
    assert sdk.read_file(repo, "img/photo.bin", start=-5) == data[-5:]
    assert sdk.read_file(repo, "img/photo.bin", end=3) == data[:3]
    assert sdk.read_file(repo, "docs/notes.txt", version=2) == b"hello birds\n"

    info = sdk.get_file_info(repo, "img/photo.bin")
    assert (info.size, info.sha256, info.media_type) == (
        len(data),
        sha(data),
        "application/x-photo",
    )
    assert info.version == sdk.get_dataset(repo).version and info.kind == "file"

    with sdk.open_file(repo, "img/photo.bin", version=1) as stream:
        assert stream.info.sha256 == sha(data)
        chunks = list(stream.iter_bytes())
    assert b"".join(chunks) == data

    seen: list[int] = []
    dest = tmp_path / "down" / "photo.bin"
    got = sdk.download_file(repo, "img/photo.bin", dest, progress=seen.append)
    assert dest.read_bytes() == data and got.sha256 == sha(data) and got.size == len(data)
    assert sum(seen) == len(data)
    assert not dest.with_name("photo.bin.part").exists()

    removed = sdk.delete_file(repo, "docs/tail.txt", if_match=sha(b"birds\n"))
    assert removed.outcome == "removed" and removed.entry is None
    with pytest.raises(NotFound):
        sdk.read_file(repo, "docs/tail.txt")

    versions = list(sdk.list_versions(repo))
    assert [v.number for v in versions] == list(range(versions[0].number, -1, -1))
    assert sdk.get_version(repo, 1).message == "first photo"


def test_records_keep_their_tagged_values(sdk: Client, repo: str) -> None:
    value = {"wings": 2, "photo": {"type": "Buffer", "data": [1, 2, 3]}, "n": None}
    made = sdk.put_record(repo, "sparrow", value, message="a bird")
    assert made.outcome == "added" and made.entry is not None
    assert made.entry.kind == "record"
    assert sdk.get_record(repo, "sparrow") == value
    odd = "a/../b?c#d%e"  # ids are keys, not paths: kept exactly
    sdk.put_record(repo, odd, [1, "two"])
    assert sdk.get_record(repo, odd) == [1, "two"]
    sdk.put_record(repo, "..", "dots")
    assert sdk.get_record(repo, "..") == "dots"

    with pytest.raises(PreconditionFailed):
        sdk.put_record(repo, "sparrow", 1, if_none_match=True)
    same = sdk.put_record(repo, "sparrow", value, if_match=made.entry.sha256)
    assert same.outcome == "unchanged"

    ids = [e.path for e in sdk.list_records(repo)]
    assert ids == sorted(["sparrow", odd, ".."])
    assert sdk.get_record(repo, "sparrow", version=made.version) == value

    gone = sdk.delete_record(repo, odd)
    assert gone.outcome == "removed"
    with pytest.raises(NotFound):
        sdk.get_record(repo, odd)


def test_blobs_and_a_commit_of_many_changes(sdk: Client, repo: str, tmp_path: Path) -> None:
    first = sdk.commit(repo, [PutRecord("keep", 1)], message="start")
    assert isinstance(first, CommitResult) and first.version.number == 1

    photo = b"\x89PNG" + bytes(5000)
    digest = sdk.upload_blob(photo)
    assert digest == sha(photo)
    assert sdk.has_blob(digest)
    unknown = sha(b"never sent " + unique().encode())
    assert not sdk.has_blob(unknown)
    path = tmp_path / "readme.md"
    path.write_bytes(b"# read me\n")
    readme = sdk.upload_blob(path, sha256=sha(b"# read me\n"))

    # Over 10,000 digests go in batches; the answer keeps the order asked.
    asked = [sha(str(n).encode() + b"x") for n in range(10_050)]
    asked.insert(5000, digest)
    assert sdk.missing_blobs(asked) == [d for d in asked if d != digest]

    result = sdk.commit(
        repo,
        [
            PutFile("img/photo.png", digest, metadata={"w": 1}),
            PutFile("README.md", readme, media_type="text/markdown", if_none_match=True),
            PutSymlink("img/latest", "photo.png"),
            PutRecord("robin", {"tags": {"type": "Set", "data": ["red"]}}),
            {"op": "put_record", "id": "wren", "value": 3},
            DeleteRecord("keep", if_match="*"),
        ],
        message="many",
        parent=1,
    )
    assert result.version.number == 2 and result.version.parent == 1
    assert result.outcomes == ["added", "added", "added", "added", "added", "removed"]
    with pytest.raises(PreconditionFailed):
        sdk.commit(repo, [DeleteFile("README.md")], parent=1)
    assert json.loads(sdk.read_file(repo, "img/latest"))["target"] == "photo.png"
    assert sdk.get_file_info(repo, "img/latest").target == "photo.png"
    with pytest.raises(DataloftError, match="symlink"):
        sdk.download_file(repo, "img/latest", tmp_path / "x")

    changes = {(d.change, d.kind, d.path) for d in sdk.diff(repo, 1)}
    assert changes == {
        ("added", "file", "img/photo.png"),
        ("added", "file", "README.md"),
        ("added", "symlink", "img/latest"),
        ("added", "record", "robin"),
        ("added", "record", "wren"),
        ("removed", "record", "keep"),
    }
    back = list(sdk.diff(repo, 2, 1))
    assert {(d.change, d.path) for d in back} >= {("removed", "README.md"), ("added", "keep")}
    removed = next(d for d in back if d.path == "README.md")
    assert removed.old is not None and removed.old.sha256 == readme and removed.new is None

    name = repo.split("/")[1]
    zipped = sdk.download_archive(repo, tmp_path / "v2.zip", version=2)
    with zipfile.ZipFile(zipped) as archive:
        assert archive.read(f"{name}-v2/img/photo.png") == photo
        records = archive.read(f"{name}-v2.records.jsonl").decode().splitlines()
    assert [json.loads(line)["id"] for line in records] == ["robin", "wren"]
    seen: list[int] = []
    tarred = sdk.download_archive(
        repo, tmp_path / "v1.tgz", format="tar.gz", version=1, progress=seen.append
    )
    with tarfile.open(tarred) as archive:
        assert archive.getnames() == [f"{name}-v1.records.jsonl"]
    assert sum(seen) == tarred.stat().st_size


def test_accounts_teams_projects_tokens_licences(server: LiveServer, admin: User) -> None:
    username = unique("carol")
    with Client(server.url, admin.token) as root:
        made = root.create_user(username, password="carol-password", email="c@example.org")
        assert made.username == username and made.email == "c@example.org"
        assert root.get_user(username) == made
        assert username in [u.username for u in root.list_users()]
        assert root.update_user(username, full_name="Carol").full_name == "Carol"

        with Client(server.url) as carol:
            token = carol.login(username, "carol-password", name="laptop")
            assert token.token.startswith("dl_") and token.name == "laptop"
            me = carol.whoami()
            assert me.user.username == username and me.teams == {}

            team = carol.create_team(unique("team"), "Bird people")
            assert [m.username for m in team.members] == [username]
            assert carol.get_team(team.name).description == "Bird people"
            assert team.name in [t.name for t in carol.list_teams()]
            renamed = carol.update_team(team.name, description="Birders")
            assert renamed.description == "Birders"
            member = carol.set_member(team.name, "admin", "W")
            assert (member.username, member.level) == ("admin", "W")
            assert [m.username for m in carol.list_members(team.name)] == sorted(
                ["admin", username]
            )
            carol.remove_member(team.name, "admin")
            project = carol.create_project(team.name, "survey", "2026")
            assert (project.team, project.name) == (team.name, "survey")
            assert carol.get_project(team.name, "survey") == project
            assert [p.name for p in carol.list_projects(team.name)] == ["survey"]
            assert carol.update_project(team.name, "survey", name="census").name == "census"
            carol.delete_project(team.name, "census")
            carol.delete_team(team.name)
            with pytest.raises(NotFound):
                carol.get_team(team.name)

            reader = carol.create_token("ci", scope="read", expires_in_days=5)
            assert reader.scope == "read" and reader.expires_at is not None
            listed = {t.id: t for t in carol.list_tokens()}
            assert listed[reader.id].prefix == reader.token[:9]
            carol.revoke_token(reader.id)
            assert reader.id not in {t.id for t in carol.list_tokens()}

            licences = list(carol.list_licences())
            assert len(licences) == 14
            assert carol.get_licence("mit") == carol.get_licence(11)

        gone = root.deactivate_user(username)
        assert gone.is_active is False


def test_lenses_are_made_read_and_reconfigured(sdk: Client, repo: str, alice: User) -> None:
    sdk.put_record(repo, "a", {"n": 1})
    owner, name = repo.split("/")
    lens_name = unique("lens")
    lens = sdk.create_lens(
        lens_name, [f"/datasets/{owner}:{name}"], "output(String(data.n), 1)", memo="by n"
    )
    assert lens.dataset.repo == f"{alice.username}/{lens_name}"
    assert lens.memo == "by n" and lens.status["state"] in ("pending", "building", "ready")
    assert sdk.get_lens(lens.dataset.repo).code == "output(String(data.n), 1)"
    changed = sdk.update_lens(
        lens.dataset.repo, [f"/datasets/{owner}:{name}"], "output('all', 1)", memo="all"
    )
    assert changed.memo == "all" and changed.code == "output('all', 1)"


def test_tags_name_versions_wherever_a_version_is_taken(
    sdk: Client, repo: str, tmp_path: Path
) -> None:
    sdk.upload_file(repo, "notes.txt", b"first")
    sdk.upload_file(repo, "notes.txt", b"second")
    made = sdk.create_tag(repo, "v1.0", 1)
    assert isinstance(made, Tag) and (made.name, made.version) == ("v1.0", 1)
    with pytest.raises(PreconditionFailed):
        sdk.create_tag(repo, "v1.0", 2)
    assert sdk.create_tag(repo, "v1.0", 2, exist_ok=True).version == 1
    sdk.create_tag(repo, "latest", 2)
    assert [t.name for t in sdk.list_tags(repo)] == ["latest", "v1.0"]
    assert sdk.get_tag(repo, "v1.0") == made

    assert sdk.read_file(repo, "notes.txt", version="v1.0") == b"first"
    assert sdk.get_version(repo, "v1.0").number == 1
    assert [e.sha256 for e in sdk.list_files(repo, version="v1.0")] == [sha(b"first")]
    assert [d.change for d in sdk.diff(repo, "v1.0", "latest")] == ["changed"]
    info = sdk.download_file(repo, "notes.txt", tmp_path / "n.txt", version="v1.0")
    assert info.version == 1 and (tmp_path / "n.txt").read_bytes() == b"first"

    moved = sdk.move_tag(repo, "v1.0", 2)
    assert moved.version == 2 and moved.updated >= made.updated
    assert sdk.read_file(repo, "notes.txt", version="v1.0") == b"second"
    sdk.delete_tag(repo, "v1.0")
    with pytest.raises(NotFound):
        sdk.get_tag(repo, "v1.0")
    kinds = [e.kind for e in sdk.list_events(dataset=repo)]
    assert kinds.count("tag.create") == 2 and "tag.move" in kinds and "tag.delete" in kinds
