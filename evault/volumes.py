"""Whether the folder the vault keeps its files in sits on an encrypted volume, as far as the kernel shows it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# Stacked file systems that encrypt each file themselves, whatever the device below them is.
ENCRYPTING_FILE_SYSTEMS = frozenset({"ecryptfs", "fuse.gocryptfs", "fuse.encfs", "fuse.cryfs"})


class Encryption(StrEnum):
    """What could be told about a volume's encryption at rest."""

    ENCRYPTED = "encrypted"
    NOT_ENCRYPTED = "not_encrypted"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Volume:
    """The mount a path lives on, and what its device chain says about encryption."""

    mount_point: str
    file_system: str
    source: str
    encryption: Encryption


def _mounts(mountinfo: str) -> list[tuple[str, str, str, str]]:
    """Return (mount point, major:minor, file system, source) per line of /proc/self/mountinfo."""
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if " - " not in line or len(fields) < 10:
            continue
        tail = line.split(" - ", 1)[1].split(" ")
        mount_point = fields[4].replace("\\040", " ")
        mounts.append((mount_point, fields[2], tail[0], tail[1]))
    return mounts


def _crypt_below(folder: Path, sys_root: Path, depth: int = 0) -> bool:
    """Return True if this block device, or one it is built on (LVM on LUKS), is a dm-crypt mapping."""
    uuid_file = folder / "dm" / "uuid"
    if uuid_file.exists() and uuid_file.read_text(encoding="ascii", errors="replace").startswith("CRYPT-"):
        return True
    slaves = folder / "slaves"
    if depth > 8 or not slaves.is_dir():
        return False
    below = sys_root / "class" / "block"
    return any(_crypt_below(below / slave.name, sys_root, depth + 1) for slave in slaves.iterdir())


def volume_of(path: Path, *, mountinfo: str | None = None, sys_root: Path = Path("/sys")) -> Volume | None:
    """Return the volume a path is on and whether it is encrypted; None when the kernel's mount table is unreadable."""
    try:
        table = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    target = os.path.realpath(path)
    candidates = [m for m in _mounts(table) if target == m[0] or target.startswith(m[0].rstrip("/") + "/")]
    if not candidates:
        return None
    mount_point, numbers, file_system, source = max(candidates, key=lambda m: len(m[0]))
    return Volume(mount_point=mount_point, file_system=file_system, source=source,
                  encryption=_encryption(numbers, file_system, source, sys_root))


def _encryption(numbers: str, file_system: str, source: str, sys_root: Path) -> Encryption:
    if file_system in ENCRYPTING_FILE_SYSTEMS:
        return Encryption.ENCRYPTED
    major = numbers.split(":", 1)[0]
    if major == "0" and source.startswith("/dev/") and os.path.exists(source):
        rdev = os.stat(source).st_rdev  # btrfs and others report an anonymous device; the source names the disk
        numbers, major = f"{os.major(rdev)}:{os.minor(rdev)}", str(os.major(rdev))
    device = sys_root / "dev" / "block" / numbers
    if major == "0" or not device.exists():
        return Encryption.UNKNOWN  # tmpfs, network and pooled file systems: nothing here tells
    return Encryption.ENCRYPTED if _crypt_below(device, sys_root) else Encryption.NOT_ENCRYPTED


def unencrypted_warnings(folders: dict[str, Path]) -> list[str]:
    """Return one warning per unencrypted volume holding any of the named folders, naming what it holds."""
    held: dict[Volume, list[str]] = {}
    for what, folder in folders.items():
        volume = volume_of(folder)
        if volume is not None and volume.encryption is Encryption.NOT_ENCRYPTED:
            held.setdefault(volume, []).append(what)
    return [f"warning: {' and '.join(whats)} are on {volume.source} ({volume.file_system}, mounted at "
            f"{volume.mount_point}), which is not encrypted at rest (警告：所在卷未加密); "
            "see docs/deploy.md, 'Encryption at rest'" for volume, whats in held.items()]
