"""The client's methods, each listed once for ``Client`` and ``AsyncClient`` both (see
``_binding`` for how), and the constructor and settings they share."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from dataloft_client import (
    _accounts,
    _blobs,
    _contents,
    _datasets,
    _events,
    _lenses,
    _tags,
    _transfer,
)
from dataloft_client._binding import listing, opener, operation
from dataloft_client._commands import Blocking, Close, Read, Request, Sleep
from dataloft_client._http import Context
from dataloft_client._retry import RetryPolicy
from dataloft_client.config import resolve

# Uploads this large or larger go through tus, resumably.
RESUMABLE_THRESHOLD = 64 << 20
TransportT = TypeVar("TransportT")
SleepT = TypeVar("SleepT")


def default_user_agent() -> str:
    try:
        version = importlib.metadata.version("dataloft")
    except importlib.metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"dataloft-client/{version} httpx/{httpx.__version__}"


class Methods(Generic[TransportT, SleepT]):
    """Every method of ``Client`` and ``AsyncClient``, grouped as docs/client.md has them,
    the constructor and the settings. The executors supply ``_start`` (their httpx
    client) and one method per command: ``_send``, ``_read``, ``_close``, ``_pause``,
    ``_block``."""

    _ctx: Context
    _send: Callable[[Request], Any]
    _read: Callable[[Read], Any]
    _close: Callable[[Close], Any]
    _pause: Callable[[Sleep], Any]
    _block: Callable[[Blocking], Any]

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = 60.0,
        retries: int = 4,
        transport: TransportT | None = None,
        user_agent: str | None = None,
        resumable_threshold: int = RESUMABLE_THRESHOLD,
        config_dir: str | os.PathLike[str] | None = None,
        sleep: SleepT | None = None,
    ) -> None:
        directory = Path(config_dir) if config_dir is not None else None
        url, token = resolve(base_url, token, directory)
        policy = RetryPolicy(retries=retries)
        self._ctx = Context(httpx.URL(url), token, policy, resumable_threshold, directory)
        options: dict[str, Any] = {
            "timeout": timeout,
            "headers": {"User-Agent": user_agent or default_user_agent()},
        }
        if transport is not None:
            options["transport"] = transport
        self._start(options, sleep)
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            Request: self._send,
            Read: self._read,
            Close: self._close,
            Sleep: self._pause,
            Blocking: self._block,
        }

    def _start(self, http_options: dict[str, Any], sleep: SleepT | None) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The server root this client talks to."""
        return str(self._ctx.server)

    @property
    def token(self) -> str | None:
        return self._ctx.token

    @property
    def resumable_threshold(self) -> int:
        """Uploads of this many bytes or more go resumably (tus), smaller ones in one PUT."""
        return self._ctx.resumable_threshold

    # auth
    login = operation(_accounts.login)
    whoami = operation(_accounts.whoami)

    # datasets and versions
    list_datasets = listing(_datasets.list_datasets)
    create_dataset = operation(_datasets.create_dataset)
    get_dataset = operation(_datasets.get_dataset)
    update_dataset = operation(_datasets.update_dataset)
    delete_dataset = operation(_datasets.delete_dataset)
    restore_dataset = operation(_datasets.restore_dataset)
    list_versions = listing(_datasets.list_versions)
    get_version = operation(_datasets.get_version)
    diff = listing(_datasets.diff)
    download_archive = operation(_transfer.download_archive)

    # files
    list_files = listing(_contents.list_files)
    read_file = operation(_contents.read_file)
    open_file = opener(_transfer.open_file)
    get_file_info = operation(_contents.get_file_info)
    download_file = operation(_transfer.download_file)
    upload_file = operation(_transfer.upload_file)
    delete_file = operation(_contents.delete_file)

    # records
    list_records = listing(_contents.list_records)
    get_record = operation(_contents.get_record)
    put_record = operation(_contents.put_record)
    delete_record = operation(_contents.delete_record)

    # blobs and commits
    missing_blobs = operation(_blobs.missing_blobs)
    has_blob = operation(_blobs.has_blob)
    upload_blob = operation(_blobs.upload_blob)
    upload_blobs = operation(_blobs.upload_blobs)
    commit = operation(_contents.commit)

    # events
    events = listing(_events.events)
    list_events = listing(_events.list_events)

    # tags
    list_tags = listing(_tags.list_tags)
    get_tag = operation(_tags.get_tag)
    create_tag = operation(_tags.create_tag)
    move_tag = operation(_tags.move_tag)
    delete_tag = operation(_tags.delete_tag)

    # users
    list_users = listing(_accounts.list_users)
    create_user = operation(_accounts.create_user)
    get_user = operation(_accounts.get_user)
    update_user = operation(_accounts.update_user)
    deactivate_user = operation(_accounts.deactivate_user)

    # teams, members, projects
    list_teams = listing(_accounts.list_teams)
    create_team = operation(_accounts.create_team)
    get_team = operation(_accounts.get_team)
    update_team = operation(_accounts.update_team)
    delete_team = operation(_accounts.delete_team)
    list_members = listing(_accounts.list_members)
    set_member = operation(_accounts.set_member)
    remove_member = operation(_accounts.remove_member)
    list_projects = listing(_accounts.list_projects)
    create_project = operation(_accounts.create_project)
    get_project = operation(_accounts.get_project)
    update_project = operation(_accounts.update_project)
    delete_project = operation(_accounts.delete_project)

    # tokens and licences
    list_tokens = listing(_accounts.list_tokens)
    create_token = operation(_accounts.create_token)
    revoke_token = operation(_accounts.revoke_token)
    list_licences = listing(_accounts.list_licences)
    get_licence = operation(_accounts.get_licence)

    # lenses
    create_lens = operation(_lenses.create_lens)
    get_lens = operation(_lenses.get_lens)
    update_lens = operation(_lenses.update_lens)
