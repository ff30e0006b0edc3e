"""Progress as the officer sees it: bytes counted as they go out inside a PATCH, and a countdown while the vault
is away (a real server stopped and started again), Chinese first."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from evault_client.upload.progress import RichProgress, retry_note
from evault_client.upload.runner import ClientOptions, IngestClient
from evault_client.upload.tags import Tags
from tests.client.upload.conftest import CERTS, Officers
from tests.client.upload.server import RestartableServer
from tests.media import make_video
from vault.context import VaultContext


class Recorder:
    """A progress sink that records every event it is given, in order."""

    def __init__(self, on_sent: Callable[[int], None] = lambda offset: None,
                 on_retry: Callable[[float], None] = lambda seconds: None) -> None:
        self.events: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.on_sent = on_sent
        self.on_retry = on_retry

    def start(self, path: Path, size: int) -> None:
        """Record."""
        self.events.append(("start", size))

    def hashed(self, path: Path, nbytes: int) -> None:
        """Record."""
        self.events.append(("hashed", nbytes))

    def sending(self, path: Path, offset: int) -> None:
        """Record."""
        self.events.append(("sending", offset))

    def sent(self, path: Path, offset: int) -> None:
        """Record."""
        self.events.append(("sent", offset))
        self.on_sent(offset)

    def retrying(self, path: Path, seconds: float, reason: str) -> None:
        """Record."""
        self.events.append(("retrying", seconds))
        self.on_retry(seconds)

    def finish(self, path: Path, *, ok: bool) -> None:
        """Record."""
        self.events.append(("finish", float(ok)))

    def of(self, kind: str) -> list[float]:
        """Return the values of one kind of event."""
        return [value for name, value in self.events if name == kind]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A clip of a few hundred KiB."""
    path = tmp_path / "REC_0009.MP4"
    make_video(path, seconds=2.0, size="320x240")
    return path


@pytest.fixture
def server(context: VaultContext) -> Iterator[RestartableServer]:
    """A real vault server that the test can stop and start again."""
    served = RestartableServer(context)
    served.start()
    yield served
    served.stop()


def connect(server: RestartableServer, officers: Officers, tmp_path: Path, **changes: object) -> IngestClient:
    options = {"server": server.url, "token": officers.uploader.token, "state_dir": tmp_path / "state", **changes}
    return IngestClient(ClientOptions(**options))  # type: ignore[arg-type]


def test_a_large_chunk_reports_its_bytes_while_they_go_out(
    server: RestartableServer, officers: Officers, clip: Path, tmp_path: Path
) -> None:
    size = clip.stat().st_size
    client = connect(server, officers, tmp_path, piece_size=16 * 1024)  # the default 16 MiB chunk: one PATCH
    client.progress = sink = Recorder()
    try:
        [outcome] = client.upload([clip], Tags(handlers=CERTS[:1]))
    finally:
        client.close()
    assert outcome.clearable
    assert sink.of("sent") == [0, size]  # one PATCH: the vault's offset moves once
    sending = sink.of("sending")
    assert len(sending) >= size // (16 * 1024) and sending == sorted(sending) and sending[-1] == size
    first_durable = sink.events.index(("sent", size))
    assert all(sink.events.index(("sending", offset)) < first_durable for offset in sending)


def test_bars_count_down_to_the_next_try_while_the_vault_is_away(
    server: RestartableServer, officers: Officers, clip: Path, tmp_path: Path
) -> None:
    restarted: list[threading.Thread] = []

    def pull_the_vault(offset: int) -> None:
        if offset and not restarted:  # after the first durable chunk the vault's host goes down
            server.stop()
            restarted.append(server.start_later(1.5))

    client = connect(server, officers, tmp_path, chunk_size=32 * 1024, retries=10)
    client.progress = sink = Recorder(on_sent=pull_the_vault)
    try:
        [outcome] = client.upload([clip], Tags(handlers=CERTS[:1]))
    finally:
        client.close()
        for thread in restarted:
            thread.join()
    assert outcome.error is None and outcome.clearable
    waits = sink.of("retrying")
    assert waits and waits[:2] == [0.5, 1.0] and sum(waits) >= 1.5
    assert sink.of("sent")[-1] == clip.stat().st_size
    assert retry_note(2.0, lambda zh, en: zh) == "2 秒后重试"
    assert retry_note(2.0, lambda zh, en: en) == "retrying in 2 s"


def test_the_terminal_bar_shows_the_countdown_and_the_transfer_not_the_hashing(clip: Path) -> None:
    screen = io.StringIO()
    size = clip.stat().st_size
    progress = RichProgress(total_bytes=size, console=Console(file=screen, width=120, force_terminal=True),
                            text=lambda zh, en: zh)
    with progress:
        progress.start(clip, size)
        progress.hashed(clip, size)
        assert progress.task_fields(clip)["description"] == "校验 REC_0009.MP4"
        progress.sending(clip, 1024)
        fields = progress.task_fields(clip)
        assert fields["description"] == "上传 REC_0009.MP4" and fields.get("retry_at") is None
        progress.retrying(clip, 30.0, "the vault could not be reached")
        progress.refresh()
        assert "秒后重试" in screen.getvalue()
        progress.sent(clip, size)
        assert progress.task_fields(clip)["retry_at"] is None
        progress.finish(clip, ok=True)
        assert progress.overall == (size, size)
