"""dataloft.core.zip_reading: uploaded zip archives, read back, and every attack refused.

Archives are written with ``zipfile``; where it will not write an attack (a NUL in a name,
a size that lies, overlapping members), the bytes it wrote are patched. Offsets into a
central directory record, by hand from APPNOTE 4.3.12: flags 8, method 10, CRC-32 16,
compressed size 20, size 24, external attributes 38, local header offset 42; into the end
record (4.3.16): disk number 4, records on this disk 8, records 10."""

from __future__ import annotations

import functools
import io
import os
import stat
import struct
import zipfile
from collections.abc import Callable, Iterator

import pytest

from dataloft.core.archive_formats import Member, zip_stream
from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.zip_reading import ZipLimits, ZipMember, ZipReader

MIB = 1024 * 1024
CENTRAL = b"PK\x01\x02"
END = b"PK\x05\x06"
FLAGS, METHOD, CRC, COMPRESSED, SIZE, HEADER = 8, 10, 16, 20, 24, 42


def _archive(
    members: dict[str, bytes],
    compression: int = zipfile.ZIP_DEFLATED,
    comment: bytes = b"",
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        archive.comment = comment
        for name, data in members.items():
            # A ZipInfo, because writestr refuses an empty name given as a string.
            archive.writestr(zipfile.ZipInfo(name), data, compression)
    return buffer.getvalue()


@functools.cache
def _bomb() -> bytes:
    """50 MiB of zeros as one deflated member, ``zeros.bin``: 51 kB."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as member,
    ):
        for _ in range(50):
            member.write(bytes(MIB))
    return buffer.getvalue()


def _central(data: bytes, name: bytes) -> int:
    """The offset of ``name``'s central directory record."""
    found = data.find(CENTRAL)
    while found >= 0:
        (length,) = struct.unpack_from("<H", data, found + 28)
        if data[found + 46 : found + 46 + length] == name:
            return found
        found = data.find(CENTRAL, found + 1)
    raise AssertionError(f"no central directory record for {name!r}")


def _packed(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    """``data`` with ``values`` written at ``offset``."""
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, *values)
    return bytes(patched)


def _patched(data: bytes, name: bytes, field: int, fmt: str, value: int) -> bytes:
    """``data`` with one field of ``name``'s central directory record set to ``value``."""
    return _packed(data, _central(data, name) + field, fmt, value)


def _patched_end(data: bytes, field: int, fmt: str, *values: int) -> bytes:
    """``data`` with fields of its end record, from ``field`` on, set to ``values``."""
    return _packed(data, data.rfind(END) + field, fmt, *values)


def _renamed(data: bytes, placeholder: bytes, name: bytes) -> bytes:
    """``data`` with a member's name (in its local header and its directory record)
    replaced by ``name`` of the same length, which ``zipfile`` would not have written."""
    assert len(placeholder) == len(name) and data.count(placeholder) == 2
    return data.replace(placeholder, name)


def _members(data: bytes, limits: ZipLimits = ZipLimits()) -> list[ZipMember]:
    with ZipReader(io.BytesIO(data), limits) as reader:
        return reader.members()


def _contents(data: bytes, limits: ZipLimits = ZipLimits()) -> dict[str, bytes]:
    with ZipReader(io.BytesIO(data), limits) as reader:
        return {member.name: b"".join(reader.read(member)) for member in reader.members()}


def _message(data: bytes, limits: ZipLimits = ZipLimits()) -> str:
    with pytest.raises(Invalid) as raised:
        _contents(data, limits)
    return raised.value.message


def _too_large(data: bytes, limits: ZipLimits = ZipLimits()) -> str:
    with pytest.raises(TooLarge) as raised:
        _contents(data, limits)
    return raised.value.message


# --- archives that are read -------------------------------------------------------------------

NESTED = {
    "top.txt": b"at the top\n",
    "images/": b"",
    "images/cats/a.jpg": os.urandom(3000),
    "images/cats/b.jpg": b"\xff\xd8" + b"cat" * 5000,
    "empty.bin": b"",
    "données/été.csv": "a,b\né,è\n".encode(),
}


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_nested_names_and_a_directory_round_trip(compression: int) -> None:
    data = _archive(NESTED, compression)
    assert _members(data) == [
        ZipMember("top.txt", 11, is_directory=False),
        ZipMember("images/", 0, is_directory=True),
        ZipMember("images/cats/a.jpg", 3000, is_directory=False),
        ZipMember("images/cats/b.jpg", 15002, is_directory=False),
        ZipMember("empty.bin", 0, is_directory=False),
        ZipMember("données/été.csv", 10, is_directory=False),
    ]
    assert _contents(data) == NESTED


def test_a_member_is_read_in_pieces_of_at_most_a_chunk() -> None:
    text = b"".join(b"line %d of a long text\n" % n for n in range(10_000))
    data = _archive({"long.txt": text})
    with ZipReader(io.BytesIO(data)) as reader:
        (member,) = reader.members()
        pieces = list(reader.read(member, chunk=4096))
    assert b"".join(pieces) == text
    assert max(map(len, pieces)) == 4096


def test_members_may_be_read_in_any_order_and_interleaved() -> None:
    data = _archive({"a": b"a" * 10_000, "b": os.urandom(10_000)})
    with ZipReader(io.BytesIO(data)) as reader:
        a, b = reader.members()
        streams = {"b": reader.read(b, chunk=1000), "a": reader.read(a, chunk=1000)}
        pieces: dict[str, list[bytes]] = {"a": [], "b": []}
        while streams:
            for name, stream in list(streams.items()):
                piece = next(stream, None)
                if piece is None:
                    del streams[name]
                else:
                    pieces[name].append(piece)
    assert {name: b"".join(p) for name, p in pieces.items()} == _contents(data)


def test_an_archive_without_members_has_none() -> None:
    assert _members(_archive({})) == []


def test_an_archive_comment_holding_the_end_signature_is_passed_over() -> None:
    data = _archive({"a.txt": b"hello"}, comment=END + b"\0" * 30 + b" a comment")
    assert _contents(data) == {"a.txt": b"hello"}


def _streamed(name: str, data: bytes) -> Member:
    def chunks() -> Iterator[bytes]:
        yield data

    return Member(name, len(data), 1_700_000_000, chunks)


def test_archives_our_own_downloads_write_are_read() -> None:
    """``zip_stream`` writes data descriptors (sizes after the data) and Unix modes."""
    data = b"".join(zip_stream([_streamed("ds/a.txt", b"alpha"), _streamed("ds/b/c", b"")]))
    assert _contents(data) == {"ds/a.txt": b"alpha", "ds/b/c": b""}


ZIP64_MEMBERS = {"a.txt": b"first member, past 16 bytes", "b/c.txt": b"second member" * 10}


@pytest.fixture
def zip64(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """``ZIP64_MEMBERS`` in an archive of zip64 records: sizes and offsets in zip64 extra
    fields, the directory's count, size and offset in a zip64 end record."""
    # zipfile writes zip64 fields past these limits: lowered, it writes them for small data.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 16)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    data = _archive(ZIP64_MEMBERS)
    # zipfile leaves the end record's own fields true; an archive that needs zip64 cannot.
    return _patched_end(data, 8, "<HHLL", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def test_zip64_sizes_offsets_and_end_records_are_read(zip64: bytes) -> None:
    assert struct.unpack_from("<L", zip64, _central(zip64, b"b/c.txt") + SIZE) == (0xFFFFFFFF,)
    assert _members(zip64) == [ZipMember("a.txt", 27, False), ZipMember("b/c.txt", 130, False)]
    assert _contents(zip64) == ZIP64_MEMBERS
    assert _too_large(zip64, ZipLimits(entries=1)) == (
        "the zip archive holds more than 1 members (files and directories)"
    )


def test_a_damaged_zip64_end_record_is_refused(zip64: bytes) -> None:
    # The locator: signature, disk of the zip64 end record, its offset (8), disks (16).
    locator = zip64.rfind(b"PK\x06\x07")
    assert _message(_packed(zip64, locator + 8, "<Q", 2**64 - 1)) == (
        "the body is not a zip archive: its zip64 end record is missing"
    )
    assert _message(_packed(zip64, locator + 16, "<L", 2)) == (
        "zip archives split over several files are not accepted"
    )
    # The zip64 end record counts its own size from byte 12 on: 44, here 45.
    damaged = _packed(zip64, zip64.rfind(b"PK\x06\x06") + 4, "<Q", 45)
    assert _message(damaged) == "the body is not a zip archive: its zip64 end record is damaged"


def test_a_member_offset_past_any_file_is_refused(zip64: bytes) -> None:
    # b/c.txt's zip64 extra: kind, length, size, compressed size, then its offset (20).
    extra = _central(zip64, b"b/c.txt") + 46 + len(b"b/c.txt")
    assert _message(_packed(zip64, extra + 20, "<Q", 2**64 - 1)) == (
        "zip member 'b/c.txt' is not where the central directory puts it"
    )


def test_a_size_in_zip64_without_its_extra_field_is_refused(zip64: bytes) -> None:
    missing = "the body is not a zip archive: a member's zip64 sizes are missing"
    data = _patched(_archive({"a.txt": b"a"}), b"a.txt", SIZE, "<L", 0xFFFFFFFF)
    assert _message(data) == missing
    # a.txt's zip64 extra holds its two sizes, not also its offset (0).
    assert _message(_patched(zip64, b"a.txt", HEADER, "<L", 0xFFFFFFFF)) == missing
    # Fields of other kinds are passed over: the zip64 one, made one of them, is missing.
    extra = _central(zip64, b"a.txt") + 46 + len(b"a.txt")
    assert _message(zip64[:extra] + b"UT" + zip64[extra + 2 :]) == missing


# --- names -------------------------------------------------------------------------------------


SEGMENT = "has an empty, '.' or '..' segment"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", f"path '../evil' {SEGMENT}"),
        ("a/../../b", f"path 'a/../../b' {SEGMENT}"),
        ("a/../", f"path 'a/..' {SEGMENT}"),
        ("./a", f"path './a' {SEGMENT}"),
        ("a//b", f"path 'a//b' {SEGMENT}"),
        ("/abs", "path '/abs' must be relative (no leading '/')"),
        ("/", "path must not be empty"),
        ("", "path must not be empty"),
        ("a\\b", "path 'a\\\\b' contains a backslash"),
        ("\\\\server\\share", "path '\\\\\\\\server\\\\share' contains a backslash"),
        ("C:\\x", "a drive letter makes it absolute"),
        ("C:/x", "a drive letter makes it absolute"),
        ("a\tb", "path 'a\\tb' contains control characters"),
    ],
)
def test_names_that_are_not_relative_dataset_paths_are_refused(name: str, reason: str) -> None:
    message = _message(_archive({"fine.txt": b"", name: b"x"}))
    assert message == f"zip member {name!r} is refused: {reason}"


def test_a_nul_in_a_name_is_refused_not_cut_short() -> None:
    data = _renamed(_archive({"a.txt": b"x", "bQc.txt": b"y"}), b"bQc.txt", b"b\0c.txt")
    assert _message(data) == (
        "zip member 'b\\x00c.txt' is refused: path 'b\\x00c.txt' contains control characters"
    )


def test_names_are_limited_in_utf8_bytes() -> None:
    limits = ZipLimits(name_bytes=8)
    assert [m.name for m in _members(_archive({"12345678": b""}), limits)] == ["12345678"]
    assert _message(_archive({"123456789": b""}), limits) == (
        "zip member '123456789' is refused: path is longer than 8 bytes"
    )
    assert _message(_archive({"ééééé": b""}), limits) == (
        "zip member 'ééééé' is refused: path is longer than 8 bytes"
    )


def test_names_without_the_utf8_flag_are_utf8_if_they_can_be_and_else_code_page_437() -> None:
    data = _archive({"cafQ.txt": b"1", "teaQQ.txt": b"2"})
    data = _renamed(data, b"cafQ.txt", b"caf\x82.txt")
    data = _renamed(data, b"teaQQ.txt", b"th\xc3\xa9e.txt")
    assert [m.name for m in _members(data)] == ["café.txt", "thée.txt"]


def test_a_name_flagged_utf8_that_is_not_is_refused() -> None:
    data = _renamed(_archive({"cafQ.txt": b""}), b"cafQ.txt", b"caf\xff.txt")
    data = _patched(data, b"caf\xff.txt", FLAGS, "<H", 0x0800)
    assert _message(data) == "zip member name b'caf\\xff.txt' is not UTF-8, as it says"


def test_the_same_name_twice_is_refused() -> None:
    data = _renamed(_archive({"dup1": b"first", "dup2": b"other"}), b"dup2", b"dup1")
    assert _message(data) == "zip member 'dup1' appears twice in the archive"


def test_a_symbolic_link_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "../../etc/passwd")
    assert _message(buffer.getvalue()) == (
        "zip member 'link' is a symbolic link, which cannot be stored"
    )


# --- encryption and methods --------------------------------------------------------------------


def test_an_encrypted_member_is_refused() -> None:
    data = _patched(_archive({"secret.txt": b"s"}), b"secret.txt", FLAGS, "<H", 0x0001)
    assert _message(data) == "zip member 'secret.txt' is encrypted: send it without a password"


@pytest.mark.parametrize(
    ("method", "label"), [(99, "AES encryption"), (9, "Deflate64"), (77, "unknown")]
)
def test_a_method_other_than_stored_and_deflated_is_refused(method: int, label: str) -> None:
    data = _patched(_archive({"a.txt": b"a"}), b"a.txt", METHOD, "<H", method)
    assert _message(data) == (
        f"zip member 'a.txt' is compressed with method {method} ({label}): only stored (0) and "
        "deflated (8) members are accepted"
    )


@pytest.mark.parametrize(
    ("compression", "label"), [(zipfile.ZIP_LZMA, "14 (LZMA)"), (zipfile.ZIP_BZIP2, "12 (bzip2)")]
)
def test_lzma_and_bzip2_archives_are_refused(compression: int, label: str) -> None:
    assert _message(_archive({"a.txt": b"a" * 100}, compression)) == (
        f"zip member 'a.txt' is compressed with method {label}: only stored (0) and deflated "
        "(8) members are accepted"
    )


# --- not zip archives --------------------------------------------------------------------------


def test_bytes_that_are_no_zip_archive_are_refused() -> None:
    assert _message(b"name,value\nsurely,not a zip\n") == (
        "the body is not a zip archive: it has no end of central directory record"
    )


def test_an_empty_body_is_refused() -> None:
    assert _message(b"") == "the body is not a zip archive: it is empty"


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda data: data[:-1], "it has no end of central directory record"),
        (lambda data: data[: len(data) // 2], "it has no end of central directory record"),
        (lambda data: data[10:], "its central directory is not where its end record puts it"),
    ],
)
def test_a_truncated_archive_is_refused(cut: Callable[[bytes], bytes], reason: str) -> None:
    data = _archive({"a.txt": b"a" * 1000, "b.txt": b"b" * 1000})
    assert _message(cut(data)) == f"the body is not a zip archive: {reason}"


def test_data_before_the_archive_is_refused() -> None:
    data = b"#!/bin/sh\nexec unzip $0\n" + _archive({"a.txt": b"a"})
    assert _message(data) == (
        "the body is not a zip archive: its central directory is not where its end record puts it"
    )


def test_an_archive_split_over_several_files_is_refused() -> None:
    data = _patched_end(_archive({"a.txt": b"a"}), 4, "<H", 1)
    assert _message(data) == "zip archives split over several files are not accepted"


def test_a_central_directory_holding_more_records_than_counted_is_refused() -> None:
    data = _archive({"a": b"1", "b": b"2", "c": b"3"})
    data = _patched_end(data, 8, "<HH", 1, 1)
    assert _message(data) == (
        "the body is not a zip archive: its central directory holds more records than the 1 it "
        "counts"
    )


def test_a_damaged_central_directory_is_refused() -> None:
    damaged = "the body is not a zip archive: its central directory is damaged"
    data = _archive({"a": b"1", "b": b"2"})
    assert _message(data.replace(CENTRAL, b"PK\x01\x03", 1)) == damaged
    # The first record's comment, said to be 200 bytes long, would run past the directory.
    assert _message(_patched(data, b"a", 32, "<H", 200)) == damaged


def test_a_non_seekable_file_is_a_programming_error() -> None:
    class Unseekable(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(ValueError, match="seekable"):
        ZipReader(Unseekable(_archive({"a": b""})))


# --- entries and sizes -------------------------------------------------------------------------


def test_more_members_than_the_limit_are_refused_directories_included() -> None:
    limits = ZipLimits(entries=10)
    refusal = "the zip archive holds more than 10 members (files and directories)"
    nine = {f"f{n}": b"" for n in range(9)}
    assert len(_members(_archive({**nine, "f9": b""}), limits)) == 10
    assert _too_large(_archive({**nine, "f9": b"", "f10": b""}), limits) == refusal
    assert _too_large(_archive({**nine, "d/": b"", "d/f": b""}), limits) == refusal


def test_a_deflate_bomb_is_refused_by_its_ratio_before_any_member_is_read() -> None:
    data = _bomb()
    (compressed,) = struct.unpack_from("<L", data, _central(data, b"zeros.bin") + COMPRESSED)
    assert compressed < 60_000
    with pytest.raises(TooLarge) as raised:
        _members(data)
    assert raised.value.message == (
        f"zip member 'zeros.bin' expands from {compressed} to 52428800 bytes: a member over "
        "1048576 bytes may expand at most 200 times"
    )


def test_a_deflate_bomb_is_refused_by_the_declared_total() -> None:
    with pytest.raises(TooLarge) as raised:
        _members(_bomb(), ZipLimits(total_bytes=10 * MIB, ratio=1_000_000))
    assert raised.value.message == (
        "the zip archive's members add up to more than 10485760 bytes uncompressed"
    )


def test_the_declared_total_is_of_all_members() -> None:
    data = _archive({"a": b"a" * 400, "b": b"b" * 400, "c": b"c" * 400})
    assert _too_large(data, ZipLimits(total_bytes=1000)) == (
        "the zip archive's members add up to more than 1000 bytes uncompressed"
    )


def test_small_members_may_compress_any_amount() -> None:
    assert _contents(_archive({"zeros": bytes(MIB)})) == {"zeros": bytes(MIB)}
    assert "at most 200 times" in _too_large(_archive({"zeros": bytes(MIB + 1)}))


def test_a_bomb_understating_its_size_is_refused_while_it_is_decompressed() -> None:
    # Declared as 1 MiB, which no ratio applies to: 50 MiB come out.
    data = _patched(_bomb(), b"zeros.bin", SIZE, "<L", MIB)
    with ZipReader(io.BytesIO(data)) as reader:
        (member,) = reader.members()
        assert member == ZipMember("zeros.bin", MIB, is_directory=False)
        received = 0
        with pytest.raises(TooLarge) as raised:
            for piece in reader.read(member, chunk=64 * 1024):
                received += len(piece)
    assert (
        raised.value.message == "zip member 'zeros.bin' expands past the 1048576 bytes it declares"
    )
    assert received <= MIB


def test_a_stored_member_longer_than_declared_is_refused() -> None:
    data = _patched(_archive({"a.bin": b"a" * 1000}, zipfile.ZIP_STORED), b"a.bin", SIZE, "<L", 10)
    assert _too_large(data) == "zip member 'a.bin' expands past the 10 bytes it declares"


def test_a_member_shorter_than_declared_is_refused() -> None:
    data = _patched(_archive({"a.bin": b"a" * 1000}), b"a.bin", SIZE, "<L", 2000)
    assert (
        _message(data)
        == "zip member 'a.bin' is damaged: it holds 1000 of the 2000 bytes it declares"
    )


def test_reading_a_member_twice_counts_towards_the_total() -> None:
    data = _archive({"a.bin": os.urandom(1000)}, zipfile.ZIP_STORED)
    with ZipReader(io.BytesIO(data), ZipLimits(total_bytes=1500)) as reader:
        (member,) = reader.members()
        assert len(b"".join(reader.read(member))) == 1000
        with pytest.raises(TooLarge) as raised:
            b"".join(reader.read(member))
    assert (
        raised.value.message
        == "the zip archive's members add up to more than 1500 bytes uncompressed"
    )


# --- layout ------------------------------------------------------------------------------------


def test_members_sharing_their_data_are_refused() -> None:
    data = _archive({"a": b"a" * 100, "b": b"b" * 100}, zipfile.ZIP_STORED)
    data = _patched(data, b"b", HEADER, "<L", 0)
    assert _message(data) == "zip member 'a' overlaps the member or directory that follows it"


def test_a_bomb_claiming_more_compressed_bytes_than_it_has_is_refused() -> None:
    # 1 MiB of compressed bytes would make 50 MiB a ratio of 50: the archive has 51 kB.
    data = _patched(_bomb(), b"zeros.bin", COMPRESSED, "<L", MIB)
    assert _message(data) == (
        "zip member 'zeros.bin' overlaps the member or directory that follows it"
    )


def test_a_member_whose_local_header_is_elsewhere_is_refused() -> None:
    data = _patched(_archive({"a": b"a" * 100, "b": b"b"}), b"b", HEADER, "<L", 1_000_000)
    assert _message(data) == "zip member 'b' is not where the central directory puts it"


# --- damaged data ------------------------------------------------------------------------------


def test_corrupt_deflate_data_is_refused() -> None:
    data = bytearray(_archive({"a.txt": b"some text " * 100}))
    data[30 + len("a.txt")] = 0xFF  # the first block header: block type 3, which is none
    assert _message(bytes(data)) == (
        "zip member 'a.txt' is damaged: its deflate data is corrupt (Error -3 while "
        "decompressing data: invalid block type)"
    )


def test_deflate_data_cut_short_is_refused() -> None:
    data = _archive({"a.txt": os.urandom(5000)})
    (compressed,) = struct.unpack_from("<L", data, _central(data, b"a.txt") + COMPRESSED)
    data = _patched(data, b"a.txt", COMPRESSED, "<L", compressed - 100)
    assert _message(data) == "zip member 'a.txt' is damaged: its deflate data ends early"


def test_a_file_cut_after_the_directory_was_checked_is_refused() -> None:
    file = io.BytesIO(_archive({"a.bin": os.urandom(1000)}, zipfile.ZIP_STORED))
    with ZipReader(file) as reader:
        (member,) = reader.members()
        file.truncate(500)
        with pytest.raises(Invalid) as raised:
            b"".join(reader.read(member, chunk=100))
    assert raised.value.message == "zip member 'a.bin' is damaged: the archive ends inside its data"


def test_a_wrong_crc_is_refused() -> None:
    data = _patched(_archive({"a.txt": b"text"}), b"a.txt", CRC, "<L", 12345)
    assert _message(data) == "zip member 'a.txt' is damaged: its CRC-32 does not match its bytes"


# --- the reader --------------------------------------------------------------------------------


def test_only_this_archives_members_are_read() -> None:
    with ZipReader(io.BytesIO(_archive({"a": b"1"}))) as reader:
        with pytest.raises(ValueError, match="is not a member"):
            reader.read(ZipMember("b", 1, is_directory=False))
        with pytest.raises(ValueError, match="is not a member"):
            reader.read(ZipMember("a", 2, is_directory=False))
        with pytest.raises(ValueError, match="chunk"):
            reader.read(reader.members()[0], chunk=0)


def test_a_closed_reader_reads_no_more() -> None:
    with ZipReader(io.BytesIO(_archive({"a": b"1" * 100}))) as reader:
        (member,) = reader.members()
        stream = reader.read(member, chunk=10)
        assert next(stream) == b"1" * 10
    with pytest.raises(ValueError, match="closed"):
        next(stream)
    with pytest.raises(ValueError, match="closed"):
        reader.members()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ZipLimits(entries=0)
