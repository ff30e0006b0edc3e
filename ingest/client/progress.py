"""Progress reporting: one bar per file (hashing, then sending) and one for the whole batch."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class ProgressSink(Protocol):
    """Receives progress events from upload workers (called from several threads)."""

    def start(self, path: Path, size: int) -> None:
        """A file's work begins."""

    def hashed(self, path: Path, nbytes: int) -> None:
        """More of a file was hashed locally."""

    def sent(self, path: Path, offset: int) -> None:
        """The vault now holds a file up to `offset` bytes."""

    def finish(self, path: Path, *, ok: bool) -> None:
        """A file's work ended."""


class SilentProgress:
    """Reports nothing (scripts, tests, --quiet)."""

    def start(self, path: Path, size: int) -> None:
        """Ignore."""

    def hashed(self, path: Path, nbytes: int) -> None:
        """Ignore."""

    def sent(self, path: Path, offset: int) -> None:
        """Ignore."""

    def finish(self, path: Path, *, ok: bool) -> None:
        """Ignore."""


class RichProgress:
    """Live bars on the terminal; a context manager around the batch."""

    def __init__(self, *, total_bytes: int, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._overall = self._progress.add_task("all files", total=total_bytes)
        self._tasks: dict[Path, TaskID] = {}
        self._sent: dict[Path, int] = {}
        self._sizes: dict[Path, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    @property
    def overall(self) -> tuple[float, float | None]:
        """Return the batch bar's (completed, total) bytes."""
        task = next(t for t in self._progress.tasks if t.id == self._overall)
        return task.completed, task.total

    def start(self, path: Path, size: int) -> None:
        """Add the file's bar, in its hashing phase."""
        with self._lock:
            self._tasks[path] = self._progress.add_task(f"hash {path.name}", total=size)
            self._sent[path] = 0
            self._sizes[path] = size

    def hashed(self, path: Path, nbytes: int) -> None:
        """Advance the file's hashing bar."""
        self._progress.advance(self._tasks[path], nbytes)

    def sent(self, path: Path, offset: int) -> None:
        """Show the vault's offset for the file and advance the batch bar by what is new."""
        with self._lock:
            delta = offset - self._sent[path]
            self._sent[path] = offset
        self._progress.update(self._tasks[path], description=f"send {path.name}", completed=offset)
        self._progress.advance(self._overall, delta)

    def finish(self, path: Path, *, ok: bool) -> None:
        """Fill the batch bar for the file (a duplicate sends nothing) and hide the file's bar."""
        with self._lock:
            task = self._tasks.pop(path)
            remaining = self._sizes.pop(path) - self._sent.pop(path)
        if ok:
            self._progress.advance(self._overall, remaining)
        self._progress.update(task, visible=False)
