"""dataloft_client: the Python SDK of dataloft's native API (``/loft/v1``), sync and async.

    from dataloft_client import Client

    with Client("http://127.0.0.1:8080", token) as client:
        client.create_dataset("birds")
        client.upload_file("alice/birds", "photos/robin.jpg", "robin.jpg")
        for entry in client.list_files("alice/birds"):
            print(entry.path, entry.size)

It depends on httpx alone. ``Client`` and ``AsyncClient`` have the same methods (the
async ones awaited, listings iterated with ``async for``), each written once in a sans-I/O
core that both execute. See docs/client.md.
"""

from dataloft_client._async_client import AsyncClient
from dataloft_client._client import Client
from dataloft_client._exceptions import (
    APIError,
    BadRequest,
    ChecksumMismatch,
    Conflict,
    ConnectError,
    DataloftError,
    Forbidden,
    InsufficientStorage,
    MethodNotAllowed,
    NetworkError,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    ServerError,
    ServiceUnavailable,
    StreamClosed,
    TimeoutError,
    TooLarge,
    TooManyRequests,
    TransportError,
    Unauthenticated,
)
from dataloft_client._streams import AsyncFileStream, FileStream
from dataloft_client.changes import DeleteFile, DeleteRecord, PutFile, PutRecord, PutSymlink
from dataloft_client.config import load_login, remove_login, save_login
from dataloft_client.models import (
    CommitResult,
    Dataset,
    DiffItem,
    Entry,
    Event,
    FileInfo,
    Lens,
    Licence,
    Me,
    Member,
    NewToken,
    Project,
    Tag,
    Team,
    Token,
    User,
    Version,
    WriteResult,
)
from dataloft_client.refs import Ref, parse_ref

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncFileStream",
    "BadRequest",
    "ChecksumMismatch",
    "Client",
    "CommitResult",
    "Conflict",
    "ConnectError",
    "DataloftError",
    "Dataset",
    "DeleteFile",
    "DeleteRecord",
    "DiffItem",
    "Entry",
    "Event",
    "FileInfo",
    "FileStream",
    "Forbidden",
    "InsufficientStorage",
    "Lens",
    "Licence",
    "Me",
    "Member",
    "MethodNotAllowed",
    "NetworkError",
    "NewToken",
    "NotFound",
    "PreconditionFailed",
    "Project",
    "PutFile",
    "PutRecord",
    "PutSymlink",
    "RangeNotSatisfiable",
    "Ref",
    "ServerError",
    "ServiceUnavailable",
    "StreamClosed",
    "Tag",
    "Team",
    "TimeoutError",
    "Token",
    "TooLarge",
    "TooManyRequests",
    "TransportError",
    "Unauthenticated",
    "User",
    "Version",
    "WriteResult",
    "load_login",
    "parse_ref",
    "remove_login",
    "save_login",
]
