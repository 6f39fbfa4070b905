"""dataloft.core.tar_reading (and core.tar_stream under it): uploaded tarballs, read back as
a stream, and every attack refused.

Archives are written with ``tarfile``; where it will not write an attack (an unknown or
sparse kind, a link that declares data, a base-256 size, an old V7 header), the bytes it
wrote are patched and the header's checksum made good again (``_patched``). Header fields
by offset (POSIX ustar): name 0, size 124, mtime 136, checksum 148, type flag 156, magic
257, prefix 345."""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import os
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.tar_reading import TarLimits, TarMember, TarReader
from dataloft.core.tar_stream import INPUT, PIECE, RATIO_FREE_BYTES

MIB = 1024 * 1024
BLOCK = 512
END = bytes(2 * BLOCK)
SIZE, MTIME, CHECKSUM, TYPE, MAGIC, PREFIX = 124, 136, 148, 156, 257, 345
T = 1_700_000_000
PBENCH = Path(__file__).resolve().parents[2] / "data" / "pbench"
LINPACK = "linpack_mock_2020.02.28T19.10.55"
Format = Literal[0, 1, 2]  # tarfile's USTAR_FORMAT, GNU_FORMAT, PAX_FORMAT
USTAR: Format = tarfile.USTAR_FORMAT
GNU: Format = tarfile.GNU_FORMAT
PAX: Format = tarfile.PAX_FORMAT
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda raw: raw,
    "xz": lzma.compress,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
}

Entry = tuple[tarfile.TarInfo, bytes]


def _entry(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    data: bytes = b"",
    link: str = "",
    mode: int = 0o644,
    mtime: float = T,
    pax: dict[str, str] | None = None,
) -> Entry:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode, info.mtime = kind, len(data), link, mode, mtime
    info.pax_headers = pax or {}
    return info, data


def _tar(*entries: Entry, format: Format = PAX, pax: dict[str, str] | None = None) -> bytes:
    """An archive as ``tarfile`` writes it: end blocks, padded to its 10 KiB record."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format, pax_headers=pax) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _blocks(*entries: Entry, format: Format = PAX) -> bytes:
    """Members (headers, extended ones included, and data) with no end blocks after them."""
    return b"".join(info.tobuf(format) + data + bytes(-len(data) % BLOCK) for info, data in entries)


def _extended(info: tarfile.TarInfo, format: Format) -> bytes:
    """Only the extended headers ``tarfile`` writes before ``info``'s own header."""
    return info.tobuf(format)[:-BLOCK]


def _header_at(raw: bytes, name: str) -> int:
    field = name.encode().ljust(100, b"\0")
    for at in range(0, len(raw), BLOCK):
        if raw[at : at + 100] == field:
            return at
    raise AssertionError(f"no header for {name!r}")


def _patched(raw: bytes, at: int, offset: int, value: bytes) -> bytes:
    """``raw`` with ``value`` written at ``offset`` into the header block at ``at``, and that
    header's checksum made good again."""
    block = bytearray(raw[at : at + BLOCK])
    block[offset : offset + len(value)] = value
    block[CHECKSUM : CHECKSUM + 8] = b" " * 8
    block[CHECKSUM : CHECKSUM + 8] = b"%06o\0 " % sum(block)
    return raw[:at] + bytes(block) + raw[at + BLOCK :]


def _read(body: bytes, limits: TarLimits = TarLimits()) -> list[tuple[TarMember, bytes | None]]:
    reader = TarReader(io.BytesIO(body), limits)
    return [(m, b"".join(reader.read()) if m.kind == "file" else None) for m in reader]


def _members(body: bytes, limits: TarLimits = TarLimits()) -> list[TarMember]:
    return list(TarReader(io.BytesIO(body), limits))


def _invalid(body: bytes, limits: TarLimits = TarLimits()) -> str:
    with pytest.raises(Invalid) as raised:
        _read(body, limits)
    return raised.value.message


def _too_large(body: bytes, limits: TarLimits = TarLimits()) -> str:
    with pytest.raises(TooLarge) as raised:
        _read(body, limits)
    return raised.value.message


# --- tarballs that are read --------------------------------------------------------------------

RESULT = b'{"throughput": 1}\n' * 500


def _sample() -> bytes:
    return _tar(
        _entry("run", tarfile.DIRTYPE, mode=0o755),
        _entry("run/metadata.log", data=b"[pbench]\nname = run\n"),
        _entry("run/1-default", tarfile.DIRTYPE, mode=0o2755),
        _entry("run/1-default/result.json", data=RESULT, mode=0o600),
        _entry("run/1-default/empty.txt"),
        _entry("run/latest", tarfile.SYMTYPE, link="1-default", mode=0o777),
        _entry("run/copy.json", tarfile.LNKTYPE, link="run/1-default/result.json"),
        _entry("run/tool.fifo", tarfile.FIFOTYPE, mtime=T + 1),
    )


SAMPLE = [
    (TarMember("run", "directory", 0, 0o755, T, None), None),
    (TarMember("run/metadata.log", "file", 20, 0o644, T, None), b"[pbench]\nname = run\n"),
    (TarMember("run/1-default", "directory", 0, 0o2755, T, None), None),
    (TarMember("run/1-default/result.json", "file", len(RESULT), 0o600, T, None), RESULT),
    (TarMember("run/1-default/empty.txt", "file", 0, 0o644, T, None), b""),
    (TarMember("run/latest", "symlink", 0, 0o777, T, "1-default"), None),
    (TarMember("run/copy.json", "hardlink", 0, 0o644, T, "run/1-default/result.json"), None),
    (TarMember("run/tool.fifo", "other", 0, 0o644, T + 1, None), None),
]


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_members_their_kinds_and_bytes_read_back_in_every_compression(compression: str) -> None:
    assert _read(COMPRESSORS[compression](_sample())) == SAMPLE


def test_a_real_pbench_tarball_lists_its_metadata_log_and_is_read_to_its_end() -> None:
    body = (PBENCH / f"{LINPACK}.tar.xz").read_bytes()
    reader = TarReader(io.BytesIO(body))
    members = []
    for member in reader:
        members.append(member)
        if member.path == f"{LINPACK}/metadata.log":
            metadata = b"".join(reader.read())
    assert members[0] == TarMember(LINPACK, "directory", 0, 0o755, 1584799570, None)
    assert f"{LINPACK}/metadata.log" in [m.path for m in members]
    assert metadata.startswith(b"[pbench]")
    assert len(members) == 56
    # The xz stream was decoded to its end, where its check is.
    assert reader.compressed_bytes == len(body)


def test_pax_headers_give_long_names_long_links_and_times_floored() -> None:
    folder = "run/" + "d" * 120
    target = "../run/" + "t" * 150
    raw = _tar(
        _entry(f"{folder}/f.txt", data=b"x", mtime=1.75),
        _entry("run/before-1970", mtime=-1.5),
        _entry("run/link", tarfile.SYMTYPE, link=target),
        _entry("run/données-été.csv", data=b"a,b\n"),
    )
    assert [(m.path, m.mtime, m.link) for m in _members(raw)] == [
        (f"{folder}/f.txt", 1, None),
        ("run/before-1970", -2, None),
        ("run/link", T, target),
        ("run/données-été.csv", T, None),
    ]


def test_a_pax_size_wins_over_the_headers_size() -> None:
    raw = _tar(_entry("run/a", data=b"abc", pax={"size": "3"}), _entry("run/b", data=b"B"))
    raw = _patched(raw, _header_at(raw, "run/a"), SIZE, b"%011o\0" % 0)
    assert [data for _, data in _read(raw)] == [b"abc", b"B"]


def test_gnu_long_names_long_links_and_base_256_numbers_are_read() -> None:
    name = "run/" + "n" * 150
    raw = _tar(
        _entry(name, data=b"abc", mtime=-100),
        _entry("run/hard", tarfile.LNKTYPE, link=name),
        _entry("run/small", data=b"hello"),
        format=GNU,
    )
    at = _header_at(raw, "run/small")
    raw = _patched(raw, at, SIZE, b"\x80" + (5).to_bytes(11, "big"))
    # Where ustar keeps a prefix, GNU keeps times: not part of the name.
    raw = _patched(raw, at, PREFIX, b"00000000000\0")
    assert [(m.path, m.mtime, m.link, data) for m, data in _read(raw)] == [
        (name, -100, None, b"abc"),
        ("run/hard", T, name, None),
        ("run/small", T, None, b"hello"),
    ]


def test_a_ustar_prefix_and_name_make_one_path() -> None:
    name = "run/" + "p" * 120 + "/file.txt"
    assert _members(_tar(_entry(name, data=b"p"), format=USTAR))[0].path == name


def test_old_v7_headers_are_read_and_a_trailing_slash_makes_a_directory() -> None:
    raw = _tar(_entry("old/", tarfile.AREGTYPE), _entry("old/f", tarfile.AREGTYPE, data=b"v7"))
    for name in ("old/", "old/f"):
        raw = _patched(raw, _header_at(raw, name), MAGIC, bytes(8 + 64))  # magic to gname
    assert [(m.path, m.kind, data) for m, data in _read(raw)] == [
        ("old", "directory", None),
        ("old/f", "file", b"v7"),
    ]


def test_a_regular_member_named_like_a_directory_may_not_hold_data() -> None:
    raw = _tar(_entry("run/", tarfile.AREGTYPE, data=b"hidden"))
    assert "is a directory's, yet it holds data" in _invalid(raw)


def test_a_checksum_summed_over_signed_bytes_is_accepted() -> None:
    raw = _tar(_entry("é.txt", data=b"e"), format=GNU)
    block = bytearray(raw[:BLOCK])
    block[CHECKSUM : CHECKSUM + 8] = b" " * 8
    block[CHECKSUM : CHECKSUM + 8] = b"%06o\0 " % sum(b - 256 if b > 127 else b for b in block)
    assert _members(bytes(block) + raw[BLOCK:])[0].path == "é.txt"


def test_a_leading_dot_slash_is_dropped_and_the_root_directory_skipped() -> None:
    raw = _tar(
        _entry("./", tarfile.DIRTYPE),
        _entry("./run", tarfile.DIRTYPE),
        _entry("./run/a.txt", data=b"a"),
        _entry("./run/b", tarfile.LNKTYPE, link="./run/a.txt"),
    )
    assert [(m.path, m.link) for m in _members(raw)] == [
        ("run", None),
        ("run/a.txt", None),
        ("run/b", "run/a.txt"),
    ]


def test_a_directory_may_come_twice_and_is_listed_twice() -> None:
    raw = _tar(_entry("run", tarfile.DIRTYPE), _entry("run", tarfile.DIRTYPE, mode=0o700))
    assert [(m.path, m.mode) for m in _members(raw)] == [("run", 0o644), ("run", 0o700)]


def test_bytes_after_the_end_of_the_archive_are_ignored() -> None:
    garbage = b"trailing garbage, not a header" * 100
    assert _read(_sample() + garbage) == SAMPLE
    assert _read(lzma.compress(_sample()) + garbage) == SAMPLE
    assert _read(gzip.compress(_sample()) + b"\0" * 100) == SAMPLE


def test_the_archive_ends_at_its_first_zero_block_as_gnu_tar_reads_it() -> None:
    one = _blocks(_entry("run/a", data=b"a"))
    hidden = _blocks(_entry("run/hidden", data=b"h"))
    assert [m.path for m in _members(one + bytes(BLOCK))] == ["run/a"]
    assert [m.path for m in _members(one + bytes(BLOCK) + hidden + END)] == ["run/a"]


def test_an_archive_of_nothing_but_end_blocks_has_no_members() -> None:
    assert _members(_tar()) == []
    assert _members(lzma.compress(_tar())) == []


def test_concatenated_gzip_members_make_one_tar_stream() -> None:
    raw = _sample()
    half = len(raw) // 2 // BLOCK * BLOCK
    assert _read(gzip.compress(raw[:half]) + gzip.compress(raw[half:])) == SAMPLE


def test_a_plain_tar_is_told_by_its_header_even_when_it_begins_like_bzip2() -> None:
    assert _members(_tar(_entry("BZh91AY&SY", data=b"not bzip2")))[0].path == "BZh91AY&SY"


# --- reading members ---------------------------------------------------------------------------


def test_a_member_is_read_in_pieces_of_at_most_a_chunk() -> None:
    text = bytes(range(256)) * 400
    reader = TarReader(io.BytesIO(lzma.compress(_tar(_entry("a", data=text)))))
    next(reader)
    pieces = list(reader.read(chunk=1000))
    assert b"".join(pieces) == text
    assert max(map(len, pieces)) == 1000


@pytest.mark.parametrize("compression", ["xz", "gzip", "bzip2"])
def test_a_member_many_pieces_long_from_a_little_input_is_read_whole(compression: str) -> None:
    """The decoder holds output beyond each piece with no input left to feed it."""
    zeros = bytes(5 * PIECE)
    body = COMPRESSORS[compression](_tar(_entry("run/zeros", data=zeros)))
    assert len(body) < 64 * 1024
    assert _read(body)[0][1] == zeros


def test_what_is_not_read_is_skipped_and_a_reader_of_a_past_member_stops() -> None:
    text = os.urandom(100_000)
    reader = TarReader(
        io.BytesIO(gzip.compress(_tar(_entry("a", data=text), _entry("b", data=b"B"))))
    )
    next(reader)
    pieces = reader.read(chunk=1000)
    assert next(pieces) == text[:1000]
    assert next(reader).path == "b"
    with pytest.raises(ValueError, match="moved past 'a'"):
        next(pieces)
    assert b"".join(reader.read()) == b"B"
    assert list(reader) == []


def test_only_a_regular_file_has_bytes_to_read() -> None:
    reader = TarReader(io.BytesIO(_sample()))
    with pytest.raises(ValueError, match="regular file"):
        reader.read()
    assert next(reader).kind == "directory"
    with pytest.raises(ValueError, match="regular file"):
        reader.read()


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "run/../../x",
        "..",
        "run//a",
        "run/./a",
        "./../x",
        "run\\a",
        "a\x01b",
        "a\x7fb",
    ],
)
def test_names_that_leave_the_root_or_are_not_plain_paths_are_refused(name: str) -> None:
    assert _invalid(_tar(_entry(name, data=b"x"), format=GNU)).startswith(
        f"tar member {name!r} is refused: "
    )


def test_a_nul_in_a_pax_name_is_refused() -> None:
    raw = _tar(_entry("run/a", pax={"path": "run/a\0.txt"}))
    assert _invalid(raw) == (
        "tar member 'run/a\\x00.txt' is refused: path 'run/a\\x00.txt' contains control characters"
    )


def test_a_name_that_is_not_utf8_is_refused() -> None:
    raw = _tar(_entry("run/cafX"), format=GNU)
    raw = _patched(raw, 0, 0, b"run/caf\xe9")
    assert _invalid(raw) == "the member name b'run/caf\\xe9' in the tarball is not UTF-8"


def test_a_name_longer_than_name_bytes_is_refused() -> None:
    raw = _tar(_entry("run/" + "x" * 30))
    assert "path is longer than 20 bytes" in _invalid(raw, TarLimits(name_bytes=20))
    assert len(_members(raw, TarLimits(name_bytes=34))) == 1


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("run/a", data=b"1"), _entry("run/a", data=b"2")],
        [_entry("run/a", tarfile.DIRTYPE), _entry("run/a", data=b"2")],
        [_entry("run/a", data=b"1"), _entry("./run/a", tarfile.SYMTYPE, link="b")],
    ],
)
def test_a_name_seen_twice_is_refused(entries: list[Entry]) -> None:
    assert _invalid(_tar(*entries)) == (
        f"tar member {entries[1][0].name!r} is refused: the archive holds another member of "
        "that name"
    )


# --- links and kinds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "target"),
    [("a/b", "../x"), ("a/b", "c/../../a/x"), ("top", "a/b/c"), ("a/b/c", "../../d"), ("a", ".")],
)
def test_symlinks_that_stay_inside_are_kept_as_stored(path: str, target: str) -> None:
    (member,) = _members(_tar(_entry(path, tarfile.SYMTYPE, link=target)))
    assert member == TarMember(path, "symlink", 0, 0o644, T, target)


@pytest.mark.parametrize(
    ("path", "target"),
    [("a/b", "../../x"), ("a/b", "/etc/passwd"), ("top", ".."), ("a/b", "x/../../../a/y")],
)
def test_symlinks_that_point_outside_are_refused(path: str, target: str) -> None:
    raw = _tar(_entry(path, tarfile.SYMTYPE, link=target))
    assert _invalid(raw) == f"symlink {path!r} points outside the archive"


def test_a_symlink_without_a_target_is_refused() -> None:
    assert "needs a target" in _invalid(_tar(_entry("run/l", tarfile.SYMTYPE, link="")))


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("run/l", tarfile.LNKTYPE, link="run/a"), _entry("run/a", data=b"later")],
        [_entry("run", tarfile.DIRTYPE), _entry("run/l", tarfile.LNKTYPE, link="run")],
        [
            _entry("run/s", tarfile.SYMTYPE, link="x"),
            _entry("run/l", tarfile.LNKTYPE, link="run/s"),
        ],
        [_entry("run/l", tarfile.LNKTYPE, link="run/l")],
        [_entry("run/l", tarfile.LNKTYPE, link="../etc/passwd")],
    ],
)
def test_a_hard_link_to_anything_but_an_earlier_regular_file_is_refused(
    entries: list[Entry],
) -> None:
    assert _invalid(_tar(*entries)).startswith("hard link 'run/l' names ")


def test_devices_and_fifos_are_other_and_unknown_kinds_are_skipped_with_their_data() -> None:
    raw = _tar(
        _entry("dev/c", tarfile.CHRTYPE),
        _entry("dev/b", tarfile.BLKTYPE),
        _entry("dev/p", tarfile.FIFOTYPE),
        _entry("run/odd", data=b"made by some other tar " * 100),
        _entry("run/after", data=b"A"),
        format=GNU,
    )
    raw = _patched(raw, _header_at(raw, "run/odd"), TYPE, b"Z")
    assert [(m.path, m.kind, m.size, data) for m, data in _read(raw)] == [
        ("dev/c", "other", 0, None),
        ("dev/b", "other", 0, None),
        ("dev/p", "other", 0, None),
        ("run/odd", "other", 0, None),
        ("run/after", "file", 1, b"A"),
    ]


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE]
)
def test_a_link_device_or_fifo_that_declares_data_is_refused(kind: bytes) -> None:
    """GNU tar skips such data, tarfile reads a header there: a member hidden in it would
    exist for one of them only."""
    hidden = _blocks(_entry("run/hidden", data=b"h"), format=GNU)
    raw = (
        _blocks(_entry("run/a", data=b"a"), _entry("run/x", kind, link="run/a"), format=GNU)
        + hidden
        + END
    )
    raw = _patched(raw, _header_at(raw, "run/x"), SIZE, b"%011o\0" % len(hidden))
    assert "member may not declare data" in _invalid(raw)


def test_sparse_members_are_refused() -> None:
    raw = _tar(_entry("run/s", data=b"x" * 10), format=GNU)
    expected = "tar member 'run/s' is refused: sparse members are not supported"
    assert _invalid(_patched(raw, 0, TYPE, b"S")) == expected
    pax = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    assert _invalid(_tar(_entry("run/s", data=b"x" * 10, pax=pax))) == expected


# --- extended headers that readers read differently --------------------------------------------


def test_a_global_pax_header_is_passed_over_unless_it_names_or_sizes_every_member() -> None:
    assert _read(_tar(_entry("run/a", data=b"a"), pax={"comment": "hi"}))[0][1] == b"a"
    for key in ("path", "linkpath", "size"):
        raw = _tar(_entry("run/a", data=b"a"), pax={key: "1"})
        assert _invalid(raw).endswith(f"sets {key!r} for every member, which is not supported")


def test_two_extended_headers_of_one_kind_for_one_member_are_refused() -> None:
    pax = _extended(_entry("x", pax={"path": "run/one"})[0], PAX)
    gnu = _extended(_entry("run/" + "n" * 150)[0], GNU)
    for first in (pax, gnu):
        raw = first + _blocks(
            _entry("run/" + "m" * 150, data=b"m"), format=PAX if first is pax else GNU
        )
        assert "comes after another extended header" in _invalid(raw + END)


def test_a_gnu_long_name_and_a_pax_path_for_one_member_are_refused() -> None:
    raw = _extended(_entry("run/" + "n" * 150)[0], GNU)
    raw += _blocks(_entry("run/a", pax={"path": "run/other"})) + END
    assert (
        _invalid(raw)
        == "the member at byte 2048 has its path in both a GNU and a PAX extended header"
    )


def test_an_extended_header_before_the_end_of_the_archive_is_refused() -> None:
    raw = _extended(_entry("x", pax={"path": "run/one"})[0], PAX) + END
    assert _invalid(raw) == "the extended header before byte 1024 describes no member"


@pytest.mark.parametrize("damage", [b"7 path\n", b"99 path=x\n", b"x path=a\n", b"5 a=b\n"])
def test_a_damaged_pax_header_is_refused(damage: bytes) -> None:
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, len(damage)
    raw = _blocks((info, damage), format=GNU) + _blocks(_entry("run/a")) + END
    assert _invalid(raw) == "damaged PAX header at byte 0"


# --- limits ------------------------------------------------------------------------------------


def test_more_members_than_the_limit_are_refused() -> None:
    raw = _tar(*(_entry(f"f{n}") for n in range(4)))
    assert _too_large(raw, TarLimits(members=3)) == (
        "the tarball holds more than 3 members (files, directories, links)"
    )
    assert len(_members(raw, TarLimits(members=4))) == 4


def test_files_past_total_bytes_are_refused_from_their_headers_before_their_data() -> None:
    raw = _tar(_entry("a", data=b"a" * 60), _entry("b", data=b"b" * 60))
    cut = raw[: _header_at(raw, "b") + BLOCK]  # b's data is not even there
    assert _too_large(cut, TarLimits(total_bytes=100)) == (
        "the tarball's files add up to more than 100 bytes"
    )
    assert len(_read(raw, TarLimits(total_bytes=120))) == 2


def test_a_pax_header_past_header_bytes_is_refused_before_it_is_read() -> None:
    raw = _tar(_entry("run/a", pax={"comment": "c" * (2 * MIB)}))
    reader = TarReader(io.BytesIO(raw))
    with pytest.raises(TooLarge) as raised:
        next(reader)
    assert raised.value.message.startswith("the PAX header at byte 0 of the tarball holds 2097")
    assert raised.value.message.endswith("an extended header may hold at most 1048576")
    # One read of the body at most, not the 2 MiB the header declares.
    assert reader.compressed_bytes <= INPUT < 2 * MIB


def test_a_gnu_long_name_past_header_bytes_is_refused() -> None:
    raw = _tar(_entry("run/" + "n" * 150), format=GNU)
    assert "the GNU long name at byte 0" in _too_large(raw, TarLimits(header_bytes=100))


@functools.cache
def _zeros_bomb() -> bytes:
    """100 MiB of zeros as one member, xz-compressed: about 15 kB."""
    compressor = lzma.LZMACompressor(preset=0)
    info = tarfile.TarInfo("run/zeros.bin")
    info.size = 100 * MIB
    parts = [compressor.compress(info.tobuf(GNU))]
    parts += [compressor.compress(bytes(MIB)) for _ in range(100)]
    return b"".join([*parts, compressor.compress(END), compressor.flush()])


def test_a_member_expanding_past_the_ratio_is_refused_while_it_is_read() -> None:
    body = _zeros_bomb()
    assert len(body) < 100_000
    reader = TarReader(io.BytesIO(body))
    assert next(reader).size == 100 * MIB
    produced = 0
    with pytest.raises(TooLarge) as raised:
        for piece in reader.read():
            produced += len(piece)
    assert produced <= RATIO_FREE_BYTES + PIECE
    assert raised.value.message.endswith("it may expand at most 200 times")


def test_a_member_expanding_past_the_ratio_is_refused_when_skipped_too() -> None:
    with pytest.raises(TooLarge):
        _members(_zeros_bomb())


def test_the_ratio_is_a_limit_that_may_be_raised() -> None:
    reader = TarReader(io.BytesIO(_zeros_bomb()), TarLimits(ratio=100_000))
    next(reader)
    assert sum(len(piece) for piece in reader.read()) == 100 * MIB
    assert list(reader) == []


def test_an_xz_stream_asking_for_more_memory_than_xz_9_is_refused() -> None:
    body = bytearray(lzma.compress(_sample(), preset=0))
    # After the 12-byte stream header, the block header: its size, flags, the LZMA2 filter
    # (id 0x21, one byte of properties: the dictionary size), padding, CRC-32.
    size = (body[12] + 1) * 4
    assert body[13] == 0 and body[14:16] == b"\x21\x01"
    body[16] = 32  # 256 MiB
    body[12 + size - 4 : 12 + size] = zlib.crc32(body[12 : 12 + size - 4]).to_bytes(4, "little")
    assert _too_large(bytes(body)).startswith("the tarball's xz data needs over 83886080 bytes")


# --- cut, damaged, or not a tarball at all -----------------------------------------------------


def test_a_tarball_cut_inside_a_member_is_refused_whether_read_or_skipped() -> None:
    raw = _tar(_entry("run/a", data=os.urandom(5000)), _entry("run/b", data=b"b"))
    expected = "the tarball is truncated: it ends inside the data of 'run/a'"
    for cut in (raw[: BLOCK + 3000], raw[: BLOCK + 5000 + 10]):  # in the data, in its padding
        assert _invalid(cut) == expected
        with pytest.raises(Invalid, match="ends inside the data"):
            _members(cut)


def test_a_tarball_cut_inside_a_header_or_before_its_end_block_is_refused() -> None:
    raw = _tar(_entry("run/a", data=b"a"), _entry("run/b", data=b"b"))
    at = _header_at(raw, "run/b")
    assert (
        _invalid(raw[: at + 100])
        == f"the tarball is truncated: it ends inside the header at byte {at}"
    )
    assert (
        _invalid(raw[: at + 2 * BLOCK]) == "the tarball is truncated: it ends before its end block"
    )


@pytest.mark.parametrize("compression", ["xz", "gzip", "bzip2"])
def test_a_compressed_tarball_cut_short_is_refused_even_past_its_end_block(
    compression: str,
) -> None:
    body = COMPRESSORS[compression](_sample())
    expected = f"the tarball is truncated: its {compression} data ends early"
    assert _invalid(body[: len(body) // 2]) == expected
    assert _invalid(body[:-4]) == expected


@pytest.mark.parametrize("compression", ["xz", "gzip"])
def test_a_compressed_stream_damaged_after_the_archive_ended_is_refused(compression: str) -> None:
    body = bytearray(COMPRESSORS[compression](_sample()))
    body[-1 if compression == "xz" else -8] ^= 0xFF  # xz's footer magic, gzip's CRC-32
    assert _invalid(bytes(body)).startswith(f"the tarball's {compression} data is corrupt")


def test_a_header_whose_checksum_fails_is_refused_naming_its_offset() -> None:
    raw = _tar(_entry("run/a", data=b"a"), _entry("run/b"), format=GNU)
    at = _header_at(raw, "run/b")
    assert at == 1024
    damaged = raw[: at + 1] + b"X" + raw[at + 2 :]
    assert _invalid(damaged) == "damaged tar header at byte 1024"


def test_a_size_hidden_behind_a_nul_is_a_damaged_header() -> None:
    """tarfile reads the field as 0, GNU tar as 0o1000: the member's data, and what
    follows, would differ."""
    raw = _tar(_entry("run/a", data=b"a"), _entry("run/b", data=b"b"), format=GNU)
    at = _header_at(raw, "run/b")
    assert (
        _invalid(_patched(raw, at, SIZE, b"\x0000000001000")) == f"damaged tar header at byte {at}"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello, world\n" * 100,
        bytes(100),
        gzip.compress(b"a text, not a tarball\n" * 100),
        lzma.compress(b""),
    ],
    ids=["empty", "text", "short", "gzipped-text", "xz-of-nothing"],
)
def test_a_body_that_is_not_a_tar_archive_is_refused(body: bytes) -> None:
    assert _invalid(body).startswith("the upload is not a tar archive: ")


# --- speed -------------------------------------------------------------------------------------


@functools.cache
def _many(count: int) -> bytes:
    """``count`` empty files in 50 folders, the one header ``tarfile`` wrote renamed."""
    template = tarfile.TarInfo("x").tobuf(GNU)
    return (
        b"".join(
            _patched(template, 0, 0, f"run/d{n % 50}/file-{n}.txt".encode() + b"\0")
            for n in range(count)
        )
        + END
    )


def test_fifty_thousand_members_are_listed_in_under_two_seconds() -> None:
    body = _many(50_000)
    started = time.process_time()  # this process's time, not the busy machine's
    assert sum(1 for _ in TarReader(io.BytesIO(body))) == 50_000
    assert time.process_time() - started < 2
