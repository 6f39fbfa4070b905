"""An fsspec filesystem over the SDK: ``dataloft://owner/name[@version]/path/in/it``.

fsspec finds it through the ``fsspec.specs`` entry point, so ``fsspec.open``, pandas,
pyarrow, dask and xarray read (and write) datasets by URL with no import of this module::

    pandas.read_csv("dataloft://alice/birds@v1.0/sightings.csv",
                    storage_options={"url": "http://127.0.0.1:8080", "token": token})

It is built on ``Client`` (no HTTP of its own), and it is optional: fsspec is needed only
by this module, which ``import dataloft_client`` does not load.

How the store maps onto a filesystem (docs/client.md, "fsspec and pandas"):

- Paths are ``owner/name[@version]/path``; the version is a number or a tag's name, and
  left out means the head. ``""`` lists the owners of the datasets you may read, and
  ``owner`` that owner's datasets.
- Folders are not stored: they are made up from the file paths a listing returns (the API
  lists a whole subtree under a prefix), and every folder of the subtree goes into the
  listings cache at once, so ``find``/``walk``/``glob`` of a dataset cost one listing.
- Each open or listing resolves "the head" (or a tag) to one version number, once, and
  reads only that version after: the ranges of one open file all come from the same
  version, whatever others commit meanwhile.
- Every write is a commit. ``with fs.transaction:`` gathers the writes and deletes and
  makes one commit per dataset at its end; ``put``, ``copy``, ``mv``, ``rm`` of many
  files and ``pipe`` of a dict are each such a batch too. A versioned path
  (``name@7``) is read-only.
"""

from __future__ import annotations

import errno
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from fsspec.callbacks import DEFAULT_CALLBACK, Callback
from fsspec.spec import AbstractFileSystem

from dataloft_client._client import Client
from dataloft_client._fsfiles import DataloftFile, DataloftTransaction
from dataloft_client._fspaths import (
    FileChange,
    Info,
    Location,
    byte_range,
    folder_info,
    head_info,
    link_target,
    locate,
    os_errors,
    tree,
)
from dataloft_client._methods import RESUMABLE_THRESHOLD
from dataloft_client.changes import DeleteFile, PutFile
from dataloft_client.models import FileInfo

# As many links as Linux follows before ELOOP (and the server's own limit).
MAX_LINKS = 40


class DataloftFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """``dataloft://`` (see the module's notes).

    Storage options: ``base_url`` (the server root; ``url`` is the same, but fsspec's
    ``url_to_fs``, which ``pandas.read_parquet`` calls, takes ``url`` for itself) and
    ``token``, else the SDK's resolution (``DATALOFT_URL``/``DATALOFT_TOKEN``, the login
    file); ``client``, a ``Client`` to use instead; ``timeout``, ``retries``,
    ``transport``, ``user_agent``, ``resumable_threshold``, ``config_dir`` go to the
    ``Client`` made here; ``use_listings_cache``, ``listings_expiry_time``, ``max_paths``
    to fsspec's listings cache."""

    protocol = "dataloft"
    root_marker = ""
    transaction_type = DataloftTransaction

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        url: str | None = None,
        client: Client | None = None,
        timeout: float | None = 60.0,
        retries: int = 4,
        transport: Any = None,
        user_agent: str | None = None,
        resumable_threshold: int = RESUMABLE_THRESHOLD,
        config_dir: str | os.PathLike[str] | None = None,
        **storage_options: Any,
    ) -> None:
        super().__init__(**storage_options)
        if base_url and url and base_url != url:
            raise ValueError(f"two servers: base_url={base_url!r} and url={url!r}")
        if client is None:
            client = Client(
                base_url or url,
                token,
                timeout=timeout,
                retries=retries,
                transport=transport,
                user_agent=user_agent,
                resumable_threshold=resumable_threshold,
                config_dir=config_dir,
            )
            weakref.finalize(self, client.close)
        self.client = client

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        stripped: str = super()._strip_protocol(path)
        return stripped.strip("/")

    # --- where paths point ------------------------------------------------------------------

    def _file(self, path: str) -> Location:
        """The location of a file (not a dataset, owner or the root)."""
        where = locate(path)
        if where is None or not where.inner:
            raise IsADirectoryError(errno.EISDIR, "a dataset or an owner, not a file", path)
        return where

    def _writable(self, path: str) -> Location:
        where = self._file(path)
        if where.version is not None:
            raise PermissionError(
                errno.EROFS,
                f"versions are read-only: write to {where.repo}/{where.inner} (the head)",
                path,
            )
        return where

    def _resolve(self, where: Location) -> int:
        """The version number ``where`` reads: the head, or the tag's version, now."""
        with os_errors(where.base):
            if isinstance(where.version, int):
                return where.version
            if where.version is None:
                return self.client.get_dataset(where.repo).version
            return self.client.get_version(where.repo, where.version).number

    def _head(self, where: Location) -> FileInfo:
        """What the server says of the file at ``where`` (a link is not followed)."""
        with os_errors(where.name(where.inner)):
            return self.client.get_file_info(where.repo, where.inner, where.version)

    def _follow(self, where: Location, version: int | str | None = None) -> FileInfo:
        """The file at ``where`` (at ``version``, if given), links followed within its
        dataset, and the version it was read at: what reads of it then ask for."""
        if version is not None:
            where = replace(where, version=version)
        found = self._head(where)
        if found.target is not None:
            # A link's answer names no version: pin one, so its target is read there.
            where = replace(where, version=self._resolve(where))
        for _ in range(MAX_LINKS):
            if found.target is None:
                return found
            found = self._head(replace(where, inner=link_target(found.path, found.target)))
        raise OSError(errno.ELOOP, "too many levels of symbolic links", where.name(where.inner))

    # --- listing ----------------------------------------------------------------------------

    def _known_listing(self, path: str) -> list[Info] | None:
        """The cached listing of ``path``, or its entry in its folder's listing when it is
        a file; ``None`` when the cache does not know."""
        try:
            listing: list[Info] = self.dircache[path]
            return listing
        except KeyError:
            pass
        where = locate(path)
        if where is None or not where.inner:
            return None  # a dataset's (or an owner's) listing may be cached without it
        found = self._ls_from_cache(path)  # FileNotFoundError if its folder lacks it
        if found and found[0]["type"] != "directory":
            return list(found)
        return None

    def ls(self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        listing = None if refresh else self._known_listing(path)
        if listing is None:
            listing = self._list(path)
        return listing if detail else [info["name"] for info in listing]

    def _list(self, path: str) -> list[Info]:
        where = locate(path)
        if where is None:
            return self._list_datasets(path)
        version = self._resolve(where)
        prefix = where.inner + "/" if where.inner else None
        with os_errors(path):
            entries = list(self.client.list_files(where.repo, version=version, prefix=prefix))
        if not entries and where.inner:
            # A file, or nothing.
            return [head_info(path, self._head(replace(where, version=version)))]
        folders = tree(where, version, entries)
        for name, listing in folders.items():
            self.dircache[name] = listing
        return folders[path]

    def _list_datasets(self, path: str) -> list[Info]:
        """``""``: the owners of the datasets you may read; ``owner``: their datasets."""
        if path:
            with os_errors(path):
                datasets = list(self.client.list_datasets(owner=path))
            if not datasets:
                raise FileNotFoundError(errno.ENOENT, "no dataset of this owner you may read", path)
            listing = [folder_info(dataset.repo, dataset.version) for dataset in datasets]
        else:
            owners = sorted({dataset.owner for dataset in self.client.list_datasets()})
            listing = [folder_info(owner) for owner in owners]
        self.dircache[path] = listing
        return listing

    def info(self, path: str, **kwargs: Any) -> Info:
        path = self._strip_protocol(path)
        where = locate(path)
        if where is None:
            if path:
                self.ls(path)  # FileNotFoundError for an owner without datasets
            return folder_info(path)
        if not where.inner:
            listing = self.dircache.get(path)
            if listing:  # the version its listing read
                return folder_info(path, listing[0]["version"])
            return folder_info(path, self._resolve(where))
        if path in self.dircache:  # a folder listed before
            listing = self.dircache[path]
            return folder_info(path, listing[0]["version"] if listing else None)
        known = self._ls_from_cache(path)  # its entry in its folder's listing, if cached
        if known:
            return dict(known[0])
        try:
            return head_info(path, self._head(where))
        except FileNotFoundError:
            listing = self.ls(path)  # a folder, or FileNotFoundError
            return folder_info(path, listing[0].get("version") if listing else None)

    def modified(self, path: str) -> Any:
        """When the version that brought the file's content was made."""
        return self._follow(self._file(self._strip_protocol(path))).last_modified

    def ukey(self, path: str) -> str:
        """The file's sha256: it changes exactly when the content does."""
        digest = self._follow(self._file(self._strip_protocol(path))).sha256
        assert digest is not None
        return digest

    def checksum(self, path: str) -> int:
        return int(self.ukey(path), 16)

    def invalidate_cache(self, path: str | None = None) -> None:
        super().invalidate_cache(path)
        if path is None:
            self.dircache.clear()
            return
        path = self._strip_protocol(path)
        where = locate(path)
        if where is None:
            self.dircache.pop(path, None)
        else:
            self.forget(where.repo)

    def forget(self, repo: str) -> None:
        """Drop the cached listings of ``repo``'s head (a numbered version never changes;
        a tag moves without a commit of ours, and expires like any listing)."""
        for key in list(self.dircache):
            where = locate(key)
            if where is not None and where.repo == repo and where.version is None:
                self.dircache.pop(key, None)

    # --- reading ----------------------------------------------------------------------------

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        """The file's bytes, or ``[start, end)`` of them (negative: from the end), in one
        ranged request."""
        path = self._strip_protocol(path)
        where = self._file(path)
        found = self._follow(where, kwargs.get("version"))
        first, last = byte_range(start, end, found.size)
        if first == last:
            return b""
        # The whole file unranged, so that the SDK checks it against its sha256.
        whole = (first, last) == (0, found.size)
        with os_errors(path):
            return self.client.read_file(
                where.repo,
                found.path,
                version=found.version,
                start=None if whole else first,
                end=None if whole else last,
            )

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> DataloftFile:
        path = self._strip_protocol(path)
        if mode == "rb":
            kwargs.pop("size", None)  # fsspec's reopen passes it: the HEAD says it too
            found = self._follow(self._file(path), kwargs.pop("version", None))
            return DataloftFile(
                self,
                path,
                mode,
                block_size,
                autocommit,
                cache_options=cache_options,
                found=found,
                **kwargs,
            )
        if mode not in ("wb", "xb"):
            raise ValueError(f"mode {mode!r}: files are read ('rb') or written whole ('wb', 'xb')")
        where = self._writable(path)
        if mode == "xb" and self._taken(where):
            # Refused at once, as fsspec's callers expect; the write on close is create-only
            # as well (If-None-Match), for a path taken meanwhile.
            raise FileExistsError(errno.EEXIST, "the path exists", path)
        return DataloftFile(self, path, mode, block_size, autocommit, **kwargs)

    def _taken(self, where: Location) -> bool:
        try:
            self._head(where)
        except FileNotFoundError:
            return False
        return True

    # --- writing ----------------------------------------------------------------------------

    def commit(self, repo: str, changes: list[FileChange], message: str | None = None) -> None:
        """Apply ``changes`` to ``repo`` as one commit, or stage them in the open
        transaction."""
        if not changes:
            return
        if self._intrans:
            for change in changes:
                self.transaction.stage(repo, change)
            return
        with os_errors(repo):
            self.client.commit(repo, changes, message=message)
        self.forget(repo)

    @contextmanager
    def _batch(self) -> Iterator[None]:
        """One commit per dataset for what the block does: the open transaction's, or a
        transaction of its own."""
        if self._intrans:
            yield
        else:
            with self.transaction:
                yield

    def store(
        self,
        path: str,
        source: bytes | str | IO[bytes],
        *,
        create: bool = False,
        sha256: str | None = None,
        message: str | None = None,
        media_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        progress: Any = None,
    ) -> None:
        """Write ``source`` (bytes, a local path, a binary file) to ``path``: one commit, or
        a blob upload and a staged change in a transaction. ``create``: only if the path
        is free (else ``FileExistsError``)."""
        where = self._writable(path)
        with os_errors(path):
            if self._intrans:
                digest = self.client.upload_blob(source, sha256=sha256, progress=progress)
                change = PutFile(
                    where.inner,
                    digest,
                    media_type=media_type,
                    metadata=metadata,
                    if_none_match=create,
                )
                self.transaction.stage(where.repo, change)
                return
            self.client.upload_file(
                where.repo,
                where.inner,
                source,
                media_type=media_type,
                metadata=metadata,
                message=message,
                if_none_match=create,
                progress=progress,
            )
        self.forget(where.repo)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            # The SDK takes a str for a local path: never upload a file nobody named.
            raise TypeError(f"pipe_file writes bytes, not {type(value).__name__}")
        self.store(self._strip_protocol(path), bytes(value), create=mode == "create", **kwargs)

    def pipe(self, path: Any, value: bytes | None = None, **kwargs: Any) -> None:
        with self._batch():
            super().pipe(path, value, **kwargs)

    def put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Callback = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        local = Path(lpath)
        if local.is_dir():
            return  # folders are made by the files in them
        callback.set_size(local.stat().st_size)
        self.store(
            self._strip_protocol(rpath),
            lpath,
            create=mode == "create",
            progress=callback.relative_update,
            **kwargs,
        )

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> None:
        with self._batch():
            super().put(lpath, rpath, recursive=recursive, **kwargs)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy on the server: the copy names the same blob, no bytes move."""
        found = self._follow(self._file(self._strip_protocol(path1)))
        assert found.sha256 is not None
        where = self._writable(self._strip_protocol(path2))
        change = PutFile(where.inner, found.sha256, media_type=found.media_type)
        self.commit(where.repo, [change], kwargs.get("message"))

    def copy(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        with self._batch():
            super().copy(path1, path2, recursive=recursive, **kwargs)

    def mv(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> None:
        with self._batch():
            super().mv(path1, path2, recursive=recursive, **kwargs)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete files (and, with ``recursive``, folders: the files in them), one commit
        per dataset."""
        changes: dict[str, list[FileChange]] = {}
        for name in self.expand_path(path, recursive=recursive, maxdepth=maxdepth):
            where = locate(name)
            if where is None or not where.inner or self.info(name)["type"] == "directory":
                if not recursive:
                    raise IsADirectoryError(errno.EISDIR, "a folder: use recursive=True", name)
                continue  # folders go with their files
            self._writable(name)
            changes.setdefault(where.repo, []).append(DeleteFile(where.inner))
        with self._batch():
            for repo, deletes in changes.items():
                self.commit(repo, deletes)

    def rm_file(self, path: str) -> None:
        self.rm(path)


__all__ = ["DataloftFile", "DataloftFileSystem", "DataloftTransaction"]
