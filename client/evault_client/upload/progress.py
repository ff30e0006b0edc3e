"""Progress reporting: one bar per file (hashing, then sending) and one for the whole batch.

Bars measure bytes handed to the link inside each PATCH, so speed and ETA are the transfer's, and they move
within a chunk whatever its size. While the vault is away a file's bar counts down to its next retry."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

Translate = Callable[[str, str], str]


class ProgressSink(Protocol):
    """Receives progress events from upload workers (called from several threads)."""

    def start(self, path: Path, size: int) -> None:
        """A file's work begins."""

    def hashed(self, path: Path, nbytes: int) -> None:
        """More of a file was hashed locally."""

    def sending(self, path: Path, offset: int) -> None:
        """Bytes up to `offset` were handed to the link inside a PATCH (not yet durable)."""

    def sent(self, path: Path, offset: int) -> None:
        """The vault now holds a file up to `offset` bytes."""

    def retrying(self, path: Path, seconds: float, reason: str) -> None:
        """The vault is away or busy; the file's next try is in `seconds`."""

    def finish(self, path: Path, *, ok: bool) -> None:
        """A file's work ended."""


class SilentProgress:
    """Reports nothing (scripts, tests, --quiet)."""

    def start(self, path: Path, size: int) -> None:
        """Ignore."""

    def hashed(self, path: Path, nbytes: int) -> None:
        """Ignore."""

    def sending(self, path: Path, offset: int) -> None:
        """Ignore."""

    def sent(self, path: Path, offset: int) -> None:
        """Ignore."""

    def retrying(self, path: Path, seconds: float, reason: str) -> None:
        """Ignore."""

    def finish(self, path: Path, *, ok: bool) -> None:
        """Ignore."""


def retry_note(seconds: float, text: Translate) -> str:
    """Return the countdown shown while the vault is away: Chinese first."""
    whole = max(1, round(seconds))
    return text(f"{whole} 秒后重试", f"retrying in {whole} s")


class RetryColumn(ProgressColumn):
    """Counts down to a file's next try while the vault is away; empty otherwise."""

    def __init__(self, text: Translate) -> None:
        super().__init__()
        self.text = text

    def render(self, task: Task) -> Text:
        """Render the countdown."""
        retry_at = task.fields.get("retry_at")
        if not isinstance(retry_at, float) or retry_at <= time.monotonic():
            return Text("")
        return Text(retry_note(retry_at - time.monotonic(), self.text), style="yellow")


class RichProgress:
    """Live bars on the terminal; a context manager around the batch. With total_bytes None the batch's total
    grows as files start (a docking station does not know in advance what it will send)."""

    def __init__(self, *, total_bytes: int | None, console: Console | None = None,
                 text: Translate = lambda zh, en: zh) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=24),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            RetryColumn(text),
            console=console or Console(stderr=True),
            refresh_per_second=4,
        )
        self.text = text
        self._growing = total_bytes is None
        self._overall = self._progress.add_task(text("全部文件", "all files"), total=total_bytes or 0)
        self._tasks: dict[Path, TaskID] = {}
        self._shown: dict[Path, int] = {}
        self._sending: set[Path] = set()
        self._sizes: dict[Path, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def refresh(self) -> None:
        """Redraw the bars now."""
        self._progress.refresh()

    @property
    def overall(self) -> tuple[float, float | None]:
        """Return the batch bar's (completed, total) bytes."""
        task = next(t for t in self._progress.tasks if t.id == self._overall)
        return task.completed, task.total

    def task_fields(self, path: Path) -> dict[str, object]:
        """Return a file bar's fields (its description and retry time), for tests and the summary."""
        task = next(t for t in self._progress.tasks if t.id == self._tasks[path])
        return {"description": task.description, **task.fields}

    def start(self, path: Path, size: int) -> None:
        """Add the file's bar, in its hashing phase."""
        with self._lock:
            self._tasks[path] = self._progress.add_task(self.text("校验 ", "hash ") + path.name, total=size)
            self._shown[path] = 0
            self._sizes[path] = size
            if self._growing:
                task = next(t for t in self._progress.tasks if t.id == self._overall)
                self._progress.update(self._overall, total=(task.total or 0) + size)

    def hashed(self, path: Path, nbytes: int) -> None:
        """Advance the file's hashing bar."""
        self._progress.advance(self._tasks[path], nbytes)

    def sending(self, path: Path, offset: int) -> None:
        """Move the file's bar to what went out; the first time, restart its clock so hashing is not counted."""
        self._show(path, offset)

    def sent(self, path: Path, offset: int) -> None:
        """Show the vault's durable offset (after a failed PATCH it is behind what was sent)."""
        self._show(path, offset)

    def retrying(self, path: Path, seconds: float, reason: str) -> None:
        """Start the countdown on the file's bar."""
        self._progress.update(self._tasks[path], retry_at=time.monotonic() + seconds)

    def _show(self, path: Path, offset: int) -> None:
        with self._lock:
            task = self._tasks[path]
            delta = offset - self._shown[path]
            self._shown[path] = offset
            if path not in self._sending:  # the hashing samples would make the speed and ETA the hashing's
                self._sending.add(path)
                self._progress.reset(task, total=self._sizes[path], completed=offset,
                                     description=self.text("上传 ", "send ") + path.name)
        self._progress.update(task, completed=offset, retry_at=None)
        self._progress.advance(self._overall, delta)

    def finish(self, path: Path, *, ok: bool) -> None:
        """Fill the batch bar for the file (a duplicate sends nothing) and hide the file's bar."""
        with self._lock:
            task = self._tasks.pop(path)
            remaining = self._sizes.pop(path) - self._shown.pop(path)
            self._sending.discard(path)
        if ok:
            self._progress.advance(self._overall, remaining)
        self._progress.update(task, visible=False)
