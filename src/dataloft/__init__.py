"""dataloft: a self-hosted, versioned, content-addressed dataset server."""

__version__ = "0.1.0"
