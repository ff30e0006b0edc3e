"""Everything one vault process holds open: settings, database, store, keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vault.access.playback_buffer import PlaybackBuffer
from vault.config import Settings
from vault.custody.anchoring import CheckpointAnchors, default_origin
from vault.custody.service import confirm_log_matches_anchors, install_checkpointing
from vault.custody.signing import CheckpointSigner
from vault.db import make_engine, make_session_factory
from vault.errors import StorageError, VaultError
from vault.keys import DataCipher, Signer, load_data_cipher, load_retired_keys, load_signer, recorded_origin
from vault.metrics import VaultMetrics
from vault.storage.base import BlobStore
from vault.storage.factory import make_blob_store
from vault.storage.metered import MeteredStore


class DatabaseUnavailable(VaultError):
    """The catalog database cannot be reached."""

    code = "database_unavailable"
    status = 503


@dataclass
class VaultContext:
    """The process-wide resources services are handed."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: BlobStore
    signer: Signer
    cipher: DataCipher
    anchors: CheckpointAnchors
    # This process's Prometheus registry and instruments (served at /metrics), not the library's global one.
    metrics: VaultMetrics = field(default_factory=VaultMetrics)
    playback: PlaybackBuffer = field(default_factory=PlaybackBuffer)  # ranges not yet written (this process's)
    checkpoint_signer: CheckpointSigner | None = None  # the signing window's signer, when the window is above 0

    def check_database(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(f"the catalog database is unreachable: {type(exc).__name__}") from exc

    def check_store(self) -> None:
        """Raise StorageError unless the blob store answers."""
        self.store.check()

    def check_custody_log(self) -> None:
        """Raise CustodyLogInconsistent if the catalog lost or changed the newest anchored checkpoint."""
        try:
            with self.sessions() as session:
                confirm_log_matches_anchors(session=session, anchors=self.anchors)
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(f"the catalog database is unreachable: {type(exc).__name__}") from exc

    def close(self) -> None:
        """Sign what the signing window still holds, then release pooled connections."""
        if self.checkpoint_signer is not None:
            self.checkpoint_signer.stop()
        self.engine.dispose()


def build_context(settings: Settings, *, store: BlobStore | None = None) -> VaultContext:
    """Open the database, the blob store and the keys named by settings."""
    engine = make_engine(settings.resolved_database_url)
    signer = load_signer(settings.keys_dir)
    metrics = VaultMetrics()
    blob_store = MeteredStore(store or make_blob_store(settings), metrics.store_errors)
    origin = settings.log_origin or recorded_origin(settings.keys_dir) or default_origin(signer)
    anchors = CheckpointAnchors(store=blob_store, signer=signer, origin=origin,
                                retain_years=settings.anchor_retention_years,
                                retired_keys=load_retired_keys(settings.keys_dir))
    sessions = make_session_factory(engine, anchors=anchors)
    signer_thread = None
    if settings.custody_sign_window_ms:
        signer_thread = CheckpointSigner(sessions, anchors, settings.custody_sign_window_ms / 1000)
    install_checkpointing(sessions, signed_later=signer_thread.committed if signer_thread else None)
    if signer_thread is not None:
        signer_thread.start()  # after the hooks: its commits anchor what it signs
    return VaultContext(
        settings=settings,
        engine=engine,
        sessions=sessions,
        store=blob_store,
        signer=signer,
        cipher=load_data_cipher(settings.keys_dir),
        anchors=anchors,
        metrics=metrics,
        checkpoint_signer=signer_thread,
    )


__all__ = ["DatabaseUnavailable", "StorageError", "VaultContext", "build_context"]
