"""The data client: ``dataloft push`` and ``dataloft pull`` as a user runs them (the real
program, a process per run, its start-up included), against ``dataloft serve`` in a
process of its own (SQLite + local files on the benchmarks' disk).

Small files: a tree of ``--files`` files of ``--file-kib`` KiB in 100 folders, pushed to
a new dataset by a new user in each round (so that every blob is sent: the server holds
the bytes of the round before, but a new user may not name them), with a fresh local
index (so that every file is hashed). The baseline, in the same rounds: ``cp -r`` of the
same tree to the same disk, then ``sha256sum`` of every copied file (through ``xargs``).
Then a second push of the unchanged tree (the index answers, the server has it all):
its seconds.

One large file (``--big-mib``, on tmpfs like the transfer benchmarks' payload): pushed by
a new user with a fresh index (hashed, uploaded resumably, committed), against the native
single-request upload of the same bytes by another new user (``curl -T`` to ``PUT
.../files/{path}``: received, hashed, stored and committed in one request); then pulled
into an empty folder on the disk (one stream into ``.part``, sha256-checked as it comes,
renamed), against ``curl`` downloading it to the same disk.

Each figure is the best of ``--runs``; every round measures dataloft next to its
baseline, so load from elsewhere weighs on both alike.

Run: ``.venv/bin/python bench/push_pull.py [--files 10000] [--file-kib 4] [--big-mib 1024]
[--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from common import BIN, Loft, bench_dir, dataloft_server, make_file, report, tmpfs_dir

FILES_PER_SECOND = 2000  # push of small files: at least this many per second
SMALL_RATIO = 3.0  # and at most this many times cp -r + sha256sum
SECOND_PUSH_SECONDS = 1.0  # an unchanged tree: under a second
BIG_RATIO = 0.5  # push and pull of a large file: at least half the native speed


def seconds(*command: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def small_tree(root: Path, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes in 100 folders (kept for the next run)."""
    marker = root.with_name(f"{root.name}.made-{count}-{size}")  # beside it: not pushed
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    for stale in root.parent.glob(f"{root.name}.made-*"):
        stale.unlink()
    for n in range(count):
        folder = root / f"d{n % 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n:06d}.bin").write_bytes(os.urandom(size))
    marker.write_bytes(b"")
    return root


class Users:
    """New users of the benchmark's server, each with a token, and their client env."""

    def __init__(self, loft: Loft) -> None:
        self._loft = loft
        self._made = 0

    def env(self) -> tuple[str, dict[str, str]]:
        """A new user, and the environment of a ``dataloft`` run as them with a fresh
        local index and configuration directory."""
        self._made += 1
        name = f"bench{self._made}-{os.getpid()}"
        with self._loft.client() as admin:
            admin.post("/users", json={"username": name, "password": "bench-password"})
            token = admin.post("/tokens", json={"username": name}).raise_for_status()
        scratch = bench_dir() / "client" / name
        shutil.rmtree(scratch, ignore_errors=True)
        env = {
            **os.environ,
            "DATALOFT_URL": self._loft.url,
            "DATALOFT_TOKEN": token.json()["token"],
            "XDG_CACHE_HOME": str(scratch / "cache"),
            "DATALOFT_CONFIG_DIR": str(scratch / "config"),
        }
        return name, env


def baseline_copy_and_hash(tree: Path, copy: Path) -> float:
    """``cp -r`` of the tree to ``copy`` (a new folder, removed by the caller once every
    round is done), then ``sha256sum`` of every copied file."""
    # What earlier rounds left to write back would slow the copy down.
    os.sync()
    started = time.perf_counter()
    subprocess.run(["cp", "-r", str(tree), str(copy)], check=True)
    listing = subprocess.run(
        ["find", str(copy), "-type", "f", "-print0"], check=True, capture_output=True
    )
    subprocess.run(
        ["xargs", "-0", "sha256sum"], input=listing.stdout, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def small_files(loft: Loft, users: Users, count: int, kib: int, runs: int) -> None:
    tree = small_tree(bench_dir() / "push-tree", count, kib * 1024)
    dataloft = str(BIN / "dataloft")
    pushes, baselines, seconds_again = [], [], []
    # The copies are removed after the last round, not between rounds: creating files on
    # ext4 right after thousands were deleted is slow (its allocator skips inodes deleted
    # in the last minutes, ``recently_deleted`` in the kernel's profile), which made one
    # round's `cp -r` take 7 s where it takes 0.3 s.
    copies = bench_dir() / "cp-copies"
    shutil.rmtree(copies, ignore_errors=True)
    copies.mkdir()
    try:
        for round_ in range(runs):
            baselines.append(baseline_copy_and_hash(tree, copies / str(round_)))
            user, env = users.env()
            os.sync()  # as for the baseline: not writing back the copy meanwhile
            pushes.append(seconds(dataloft, "push", str(tree), f"{user}/small", env=env))
            seconds_again.append(seconds(dataloft, "push", str(tree), f"{user}/small", env=env))
    finally:
        shutil.rmtree(copies, ignore_errors=True)
    push, base, again = min(pushes), min(baselines), min(seconds_again)
    rate = count / push
    report(
        f"push_{count}_files_of_{kib}KiB_per_second",
        {"files_per_s": round(rate, 1), "push_s": round(push, 2)},
        rate / FILES_PER_SECOND,
        f">= {FILES_PER_SECOND} files/s",
        rate >= FILES_PER_SECOND,
    )
    report(
        f"push_{count}_files_of_{kib}KiB_vs_cp_and_sha256sum",
        {"push_s": round(push, 2), "cp_and_sha256sum_s": round(base, 3)},
        push / base,
        f"<= {SMALL_RATIO}",
        push / base <= SMALL_RATIO,
    )
    report(
        f"push_{count}_files_unchanged_seconds",
        {"second_push_s": round(again, 3)},
        again,
        f"< {SECOND_PUSH_SECONDS} s",
        again < SECOND_PUSH_SECONDS,
    )


def large_file(loft: Loft, users: Users, mib: int, runs: int) -> None:
    folder = tmpfs_dir() / f"push-big-{mib}MiB"
    folder.mkdir(exist_ok=True)
    payload = make_file(folder / "big.bin", mib * 1024 * 1024)
    dataloft = str(BIN / "dataloft")
    timings: dict[str, list[float]] = {"push": [], "native_put": [], "pull": [], "curl_get": []}
    for _ in range(runs):
        user, env = users.env()
        timings["push"].append(seconds(dataloft, "push", str(folder), f"{user}/big", env=env))
        native, native_env = users.env()
        with httpx.Client(base_url=loft.api, timeout=600) as client:
            headers = {"Authorization": f"Bearer {native_env['DATALOFT_TOKEN']}"}
            client.post("/datasets", json={"name": "big"}, headers=headers).raise_for_status()
        url = f"{loft.api}/datasets/{native}/big/files/big.bin"
        bearer = f"Authorization: Bearer {native_env['DATALOFT_TOKEN']}"
        curl = ("curl", "-sS", "--fail", "-H", bearer)
        timings["native_put"].append(seconds(*curl, "-o", "/dev/null", "-T", str(payload), url))
        target = bench_dir() / "pulled"
        shutil.rmtree(target, ignore_errors=True)
        timings["pull"].append(seconds(dataloft, "pull", f"{user}/big", str(target), env=env))
        shutil.rmtree(target)
        got = bench_dir() / "curl-got.bin"
        timings["curl_get"].append(seconds(*curl, "-o", str(got), url))
        got.unlink()
    best = {what: min(values) for what, values in timings.items()}

    def mbps(elapsed: float) -> float:
        return round(payload.stat().st_size / elapsed / 1e6, 1)

    for ours, theirs, label in (("push", "native_put", "push"), ("pull", "curl_get", "pull")):
        ratio = best[theirs] / best[ours]
        report(
            f"{label}_{mib}MiB_vs_{theirs}",
            {f"{ours}_MBps": mbps(best[ours]), f"{theirs}_MBps": mbps(best[theirs])},
            ratio,
            f">= {BIG_RATIO}",
            ratio >= BIG_RATIO,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--file-kib", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with dataloft_server() as loft:
        users = Users(loft)
        small_files(loft, users, args.files, args.file_kib, args.runs)
        large_file(loft, users, args.big_mib, args.runs)


if __name__ == "__main__":
    main()
