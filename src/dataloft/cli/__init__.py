"""The ``dataloft`` command line: thin shells over the core."""
