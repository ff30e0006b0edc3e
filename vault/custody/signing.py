"""The signing window: commits only append entries; one signer per process signs and anchors a checkpoint over
everything committed, at most once a window, so no commit waits for a signature, a checkpoint row or an anchor.

An entry committed at time t is covered by a signed checkpoint, anchored in the store, by t + window + the time
of one signing transaction. A process killed inside the window loses no entry: the entries are committed in the
catalog, and the next signing (the next process's first window, or the `custody_anchor` job each minute) covers
them. Across processes the lease is a PostgreSQL advisory lock (`take_signer_lease`) (SQLite writers are serialized
already), so two workers never sign the same size twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vault.custody.anchoring import CheckpointAnchors
from vault.custody.models import Checkpoint
from vault.custody.service import take_signer_lease, write_checkpoint
from vault.errors import VaultError

log = structlog.get_logger(__name__)

@dataclass
class CheckpointSigner:
    """This process's signer: told of each commit that appended entries, it signs once the window has passed."""

    sessions: sessionmaker[Session]
    anchors: CheckpointAnchors
    window_seconds: float
    clock: Callable[[], float] = time.monotonic  # the process edge tests move instead of sleeping
    _due: float | None = field(default=None, init=False)  # when the oldest unsigned commit must be signed by
    _wake: threading.Condition = field(default_factory=threading.Condition, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)

    def committed(self) -> None:
        """Note that a commit appended entries: the window's deadline starts with the first one not yet signed."""
        with self._wake:
            if self._due is None:
                self._due = self.clock() + self.window_seconds
                self._wake.notify()

    def due(self) -> bool:
        """Return True once the oldest commit not yet signed has waited its window."""
        with self._wake:
            return self._due is not None and self.clock() >= self._due

    def sign_due(self) -> Checkpoint | None:
        """Sign and anchor a checkpoint over every committed entry if the window has passed; return it."""
        return self.sign_now() if self.due() else None

    def sign_now(self) -> Checkpoint | None:
        """Sign a checkpoint over every committed entry in its own transaction; its commit anchors it."""
        with self._wake:
            self._due = None  # commits from now on start the next window
        session = self.sessions()
        try:
            if not take_signer_lease(session, wait=False):
                self.committed()  # another process is signing: try again one window later
                return None
            checkpoint = write_checkpoint(session=session, anchors=self.anchors)
            session.commit()  # the commit hook anchors the note
            return checkpoint
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def start(self) -> None:
        """Run the signer in a daemon thread; it first covers whatever a previous process left unsigned."""
        self.committed()
        self._thread = threading.Thread(target=self._run, name="custody-signer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, signing what is pending first (a clean shutdown leaves nothing for the job)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (self._due is None or self.clock() < self._due):
                    self._wake.wait(None if self._due is None else max(0.0, self._due - self.clock()))
                stopping, pending = self._stopping, self._due is not None
            if pending:
                self._sign_logged()
            if stopping:
                return

    def _sign_logged(self) -> None:
        # A failure must not end the thread: the entries stay committed and the next window (or the job) retries.
        try:
            self.sign_now()
        except (VaultError, SQLAlchemyError) as exc:
            log.error("custody.signing_failed", error=str(exc))
            with self._wake:
                if self._due is None:
                    self._due = self.clock() + max(self.window_seconds, 1.0)
