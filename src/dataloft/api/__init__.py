"""The HTTP faces of dataloft: one package or module per dialect, each a thin translation
between its wire format and the core."""

from dataloft.api.app import create_app

__all__ = ["create_app"]
