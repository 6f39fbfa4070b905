"""Fresh planner statistics after a big write, on PostgreSQL.

PostgreSQL plans each query from the statistics ``ANALYZE`` gathers. Autovacuum gathers
them once enough of a table has changed, within a minute or so; until then, right after a
big load, the planner may pick an index that makes the folder walk (``core/tree.py``) read
every live row of the dataset at each step: seconds for a page that takes milliseconds
with statistics. So a commit of many entries asks for them at once (``soon``): one
``ANALYZE`` of the table at a time, in a thread of its own, while the commit's caller goes
on; asked again while one runs, it runs once more after. (SQLite is not concerned: its
planner reads no gathered statistics here.)
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)


class StatisticsRefresher:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._wanted: set[str] = set()
        self._thread: threading.Thread | None = None

    def soon(self, table: str) -> None:
        """Analyze ``table`` (a name of ours, never a caller's) in the background."""
        with self._lock:
            self._wanted.add(table)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="analyze", daemon=True)
                self._thread.start()

    def wait(self) -> None:
        """Until no analysis is running or asked for (at shutdown, and for tests)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                table = self._wanted.pop()
            try:
                with self.engine.connect() as connection:
                    autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                    autocommit.execute(text(f'ANALYZE "{table}"'))
            except Exception:  # autovacuum will gather them in its own time
                log.exception("analyzing %s failed", table)
