"""Programs dataloft runs in interpreters of their own, never in the server's process:
they import nothing of dataloft, and talk JSON over their standard input and output."""
