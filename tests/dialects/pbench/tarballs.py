"""Tarballs for the Pbench dialect's tests, built in the test as Pbench's agent builds
them (an xz-compressed tar whose one top directory ``<name>/`` holds ``metadata.log`` and
the results), and the hostile ones an upload must refuse (names that climb out, absolute
names, symlinks that leave the archive, a body that is no tarball, an xz bomb). Plus
``upload``: the ``PUT /upload/<file>`` that ``PbenchServerClient.upload`` sends.

Pbench's functional tests read pregenerated tarballs from its repository; these are made
here instead, small and different in every test (a tarball's MD5 is its dataset's id, so
two tests building "the same" tarball would meet as duplicates on a shared server).
"""

from __future__ import annotations

import configparser
import functools
import hashlib
import io
import lzma
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

MIB = 1024 * 1024


def md5_hex(data: bytes) -> str:
    """What Pbench's ``Content-MD5`` holds: the hex MD5 (not RFC 1864's base64)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def metadata_log(
    name: str,
    *,
    script: str = "fio",
    date: str = "2018-02-01T22:40:57",
    config: str = "rw",
    controller: str = "controller.example.com",
    start_run: str | None = "2018-02-01T22:40:57.123456",
    end_run: str | None = "2018-02-01T23:05:12.654321",
    raw_size: int | None = 12345,
) -> str:
    """A ``metadata.log`` as the agent writes it (``[run]`` keys left out when None)."""
    run = [f"controller = {controller}"]
    run += [f"start_run = {start_run}"] if start_run is not None else []
    run += [f"end_run = {end_run}"] if end_run is not None else []
    run += [f"raw_size = {raw_size}"] if raw_size is not None else []
    return "\n".join(
        [
            "[pbench]",
            f"name = {name}",
            f"script = {script}",
            f"date = {date}",
            f"config = {config}",
            "rpm-version = 0.73.0-1g0123456",
            "",
            "[run]",
            *run,
            "",
            "[iterations/1-default]",
            "iteration_name = 1-default",
            "iteration_number = 1",
            "user_script = fio",
            "",
        ]
    )


def metalog_of(text: str) -> dict[str, dict[str, str]]:
    """``metadata.log`` as Pbench reports it in ``dataset.metalog`` (ConfigParser, no
    interpolation, options lower-cased)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: dict(parser.items(section)) for section in parser.sections()}


def tarball_of(
    files: Mapping[str, bytes],
    *,
    directories: Sequence[str] = (),
    symlinks: Mapping[str, str] = {},
) -> bytes:
    """An xz tarball holding exactly these members, named as given (``../x`` and ``/x``
    included: ``tarfile`` writes names as it is told)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path in directories:
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 1517524857
            tar.addfile(info, io.BytesIO(data))
        for path, target in symlinks.items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def pbench_tarball(
    name: str, *, extra: Mapping[str, bytes] = {}, metalog: str | None = None, **fields: Any
) -> bytes:
    """A Pbench result tarball ``<name>.tar.xz``: ``<name>/metadata.log`` (``metalog``,
    else ``metadata_log(name, **fields)``), a result or two, and ``extra`` files (paths
    relative to ``<name>/``)."""
    text = metalog if metalog is not None else metadata_log(name, **fields)
    files = {
        f"{name}/metadata.log": text.encode(),
        f"{name}/result.json": b'{"throughput": 1234}\n',
        f"{name}/1-default/result.txt": b"iops 99\n",
    }
    files |= {f"{name}/{path}": data for path, data in extra.items()}
    return tarball_of(files, directories=[f"{name}", f"{name}/1-default"])


def plain_tarball(name: str, *, note: bytes = b"not a pbench result\n") -> bytes:
    """A tarball that is no Pbench result: ``<name>/`` without ``metadata.log``."""
    return tarball_of({f"{name}/README": note}, directories=[name])


@functools.cache
def xz_bomb(name: str = "bomb", size: int = 200 * MIB) -> bytes:
    """``<name>/zeros``: ``size`` bytes of zeros, about 30 kB as xz. The tar stream is fed
    to the compressor a MiB at a time (never held whole); made once per test run."""
    info = tarfile.TarInfo(f"{name}/zeros")
    info.size, info.mode = size, 0o644
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_XZ, preset=0)
    pieces = [compressor.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    zeros = bytes(MIB)
    left = size
    while left:
        step = min(left, MIB)
        pieces.append(compressor.compress(zeros[:step]))
        left -= step
    padding = -size % tarfile.BLOCKSIZE
    pieces.append(compressor.compress(bytes(padding + 2 * tarfile.BLOCKSIZE)))
    pieces.append(compressor.flush())
    return b"".join(pieces)


def upload(
    client: httpx.Client,
    data: bytes,
    filename: str,
    *,
    md5: str | None = None,
    access: str | None = None,
    metadata: Sequence[str] = (),
) -> httpx.Response:
    """``PbenchServerClient.upload``: the raw bytes, ``Content-MD5`` as hex."""
    params: dict[str, str | list[str]] = {}
    if access is not None:
        params["access"] = access
    if metadata:
        params["metadata"] = list(metadata)
    headers = {
        "Content-MD5": md5_hex(data) if md5 is None else md5,
        "Content-Type": "application/octet-stream",
    }
    return client.put(f"/upload/{filename}", content=data, headers=headers, params=params)
