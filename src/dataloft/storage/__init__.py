"""Blob stores: immutable bytes addressed by their sha256, behind one Protocol."""

from dataloft.storage.base import BlobMissing, BlobStore, StagedBlob, StoreUnavailable
from dataloft.storage.factory import open_blob_store

__all__ = ["BlobMissing", "BlobStore", "StagedBlob", "StoreUnavailable", "open_blob_store"]
