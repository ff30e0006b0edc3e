"""Write an OCFL 1.1 storage root (ocfl.io/1.1/spec) one object at a time, each complete before it appears.

A new object is built in the root's staging folder and renamed into place, so an object at its path is finished;
a new version is renamed into its object first and the root inventory replaced after it, so an object whose root
inventory does not match its sidecar is repaired from its newest complete version. Bytes are copied in chunks and
hashed while they are written (SHA-512 for OCFL, SHA-256 and SM3 as the vault's fixity), then fsynced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vault.exports.hashing import MultiHasher

ROOT_DECLARATION = "0=ocfl_1.1"
OBJECT_DECLARATION = "0=ocfl_object_1.1"
INVENTORY = "inventory.json"
SIDECAR = "inventory.json.sha512"
INVENTORY_TYPE = "https://ocfl.io/1.1/spec/#inventory"
# Extension 0003 (ocfl.github.io/extensions): the id's SHA-256 in three 3-character tuples, then the id itself,
# percent-encoded, so a reader finds an object from its id and sees the id in the path.
LAYOUT = "0003-hash-and-id-n-tuple-storage-layout"
LAYOUT_CONFIG = {"extensionName": LAYOUT, "digestAlgorithm": "sha256", "tupleSize": 3, "numberOfTuples": 3}
_PLAIN = re.compile(r"[A-Za-z0-9_-]")
# Outside the OCFL hierarchy's rules only while a run is going: every run ends by removing it.
STAGING = ".evault-staging"
# The vault's own SHA-256 as OCFL fixity. SM3 is not in OCFL's digest registry (validators refuse unknown fixity
# keys, E056), so it travels in each record's metadata/evidence.json instead.
FIXITY = ("sha256",)
_VERSION = re.compile(r"^v[1-9][0-9]*$")


def object_path(object_id: str) -> str:
    """Return an object's root relative to the storage root under the 0003 hash-and-id n-tuple layout."""
    digest = hashlib.sha256(object_id.encode()).hexdigest()
    encoded = "".join(c if _PLAIN.fullmatch(c) else "".join(f"%{b:02x}" for b in c.encode()) for c in object_id)
    folder = f"{encoded[:100]}-{digest}" if len(encoded) > 100 else encoded
    return "/".join([digest[0:3], digest[3:6], digest[6:9], folder])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """Write a small file and fsync it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def replace_file(path: Path, data: bytes) -> None:
    """Replace a file atomically: write a temporary sibling, fsync it, rename it over the old one."""
    temporary = path.with_name(f".{path.name}.tmp")
    write_file(temporary, data)
    temporary.replace(path)
    _fsync_dir(path.parent)


def init_storage_root(root: Path, *, description: str) -> None:
    """Declare the storage root and its layout (idempotent: an existing declaration is left as it is)."""
    root.mkdir(parents=True, exist_ok=True)
    declaration = root / ROOT_DECLARATION
    if not declaration.exists():
        write_file(declaration, b"ocfl_1.1\n")
    layout = {"extension": LAYOUT, "description": description}
    replace_file(root / "ocfl_layout.json", _json(layout))
    replace_file(root / "extensions" / LAYOUT / "config.json", _json(LAYOUT_CONFIG))


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def sidecar_text(inventory: bytes) -> bytes:
    """Return the inventory's sidecar: its SHA-512 and the file name."""
    return f"{hashlib.sha512(inventory).hexdigest()} {INVENTORY}\n".encode()


def read_verified_inventory(folder: Path) -> dict[str, Any] | None:
    """Return the inventory in folder when its sidecar holds its SHA-512, else None."""
    try:
        data, sidecar = (folder / INVENTORY).read_bytes(), (folder / SIDECAR).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    expected = sidecar.split(" ", 1)[0].strip().lower()
    if not hmac.compare_digest(hashlib.sha512(data).hexdigest(), expected):
        return None
    try:
        inventory: dict[str, Any] = json.loads(data)
    except ValueError:
        return None
    return inventory


@dataclass(frozen=True)
class Content:
    """One file of a version: bytes from a stream (an original) or in memory (metadata), at a logical path."""

    logical_path: str
    chunks: Callable[[], Iterator[bytes]]
    # Digests (and "size") the vault recorded, compared with what is copied; SM3 only when compute_sm3.
    expected: dict[str, str] = field(default_factory=dict)
    compute_sm3: bool = False

    @classmethod
    def of_bytes(cls, logical_path: str, data: bytes) -> Content:
        """Return content held in memory (small metadata files)."""
        return cls(logical_path, lambda: iter((data,)))


class ContentMismatch(Exception):
    """Copied bytes differ from the digests or size the vault recorded."""

    def __init__(self, logical_path: str, problems: list[str]) -> None:
        super().__init__(f"{logical_path}: {'; '.join(problems)}")
        self.logical_path, self.problems = logical_path, problems


@dataclass(frozen=True)
class Written:
    """One copied file: its digests and size."""

    digests: dict[str, str]
    size: int


def copy_content(content: Content, target: Path, *, on_chunk: Callable[[int], None]) -> Written:
    """Copy content into target in chunks, hashing while writing; fsync; raise ContentMismatch on a difference."""
    algorithms = ["sha512", "sha256"] + (["sm3"] if content.compute_sm3 else [])
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    chunks = content.chunks()
    try:
        with MultiHasher(algorithms) as hasher, target.open("wb") as handle:
            for chunk in chunks:
                hasher.update(chunk)
                handle.write(chunk)
                size += len(chunk)
                on_chunk(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
            digests = hasher.hexdigests()
    finally:
        getattr(chunks, "close", lambda: None)()
    problems = [f"{name.upper()} {digests[name]} differs from the recorded {value}"
                for name, value in content.expected.items()
                if name in digests and value and not hmac.compare_digest(digests[name], value)]
    if "size" in content.expected and int(content.expected["size"]) != size:
        problems.append(f"size {size} differs from the recorded {content.expected['size']}")
    if problems:
        raise ContentMismatch(content.logical_path, problems)
    return Written(digests, size)


@dataclass(frozen=True)
class VersionInfo:
    """Who made a version, when, and why (the inventory's version block)."""

    created: datetime
    message: str
    user_name: str
    user_address: str


def _version_block(info: VersionInfo, state: dict[str, list[str]]) -> dict[str, Any]:
    return {"created": info.created.isoformat(timespec="seconds"), "message": info.message,
            "user": {"name": info.user_name, "address": info.user_address}, "state": state}


def _add(block: dict[str, list[str]], digest: str, path: str) -> None:
    paths = block.setdefault(digest, [])
    if path not in paths:
        paths.append(path)
        paths.sort()


@dataclass
class ObjectWriter:
    """Writes objects into one storage root; `on_chunk` hears of every copied chunk (progress), `on_step` of each
    step between two renames (where a test kills the process)."""

    root: Path
    on_chunk: Callable[[int], None] = lambda _n: None
    on_step: Callable[[str], None] = lambda _step: None

    @property
    def staging(self) -> Path:
        """Return the folder where objects and versions are built before they are renamed into place."""
        return self.root / STAGING

    def clear_staging(self) -> None:
        """Remove whatever an interrupted run left half-written."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def head(self, object_id: str) -> dict[str, Any] | None:
        """Return a finished object's inventory (repairing one a crash left between two renames), else None.

        A folder at the object's path that holds no complete version is removed so it is written again."""
        folder = self.root / object_path(object_id)
        if not folder.exists():
            return None
        inventory = read_verified_inventory(folder)
        if inventory is None or inventory.get("id") != object_id:
            inventory = self._repair(folder, object_id)
            if inventory is None:
                shutil.rmtree(folder)
                return None
        for stray in folder.iterdir():  # a version renamed into place whose root inventory was never written
            if stray.is_dir() and _VERSION.match(stray.name) and stray.name not in inventory["versions"]:
                shutil.rmtree(stray)
        return inventory

    def _repair(self, folder: Path, object_id: str) -> dict[str, Any] | None:
        versions = sorted((p for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)),
                          key=lambda p: int(p.name[1:]), reverse=True)
        for version in versions:
            inventory = read_verified_inventory(version)
            if inventory is not None and inventory.get("id") == object_id and inventory["head"] == version.name:
                replace_file(folder / INVENTORY, (version / INVENTORY).read_bytes())
                replace_file(folder / SIDECAR, (version / SIDECAR).read_bytes())
                return inventory
        return None

    def write_version(self, object_id: str, contents: Iterable[Content], info: VersionInfo,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        """Write the next version of an object (v1 when previous is None) holding exactly `contents`."""
        number = 1 if previous is None else int(previous["head"][1:]) + 1
        name = f"v{number}"
        build = self.staging / f"{hashlib.sha256(object_id.encode()).hexdigest()}-{name}"
        shutil.rmtree(build, ignore_errors=True)
        version_dir = build / name if previous is None else build
        inventory = _start_inventory(object_id, previous)
        state: dict[str, list[str]] = {}
        for content in contents:
            digest = self._place(content, inventory, version_dir, name)
            _add(state, digest, content.logical_path)
        inventory["head"] = name
        inventory["versions"][name] = _version_block(info, state)
        data = _json(inventory)
        for folder in (version_dir, build) if previous is None else (version_dir,):
            write_file(folder / INVENTORY, data)
            write_file(folder / SIDECAR, sidecar_text(data))
        target = self.root / object_path(object_id)
        if previous is None:
            write_file(build / OBJECT_DECLARATION, b"ocfl_object_1.1\n")
            target.parent.mkdir(parents=True, exist_ok=True)
            build.rename(target)
            _fsync_dir(target.parent)
        else:
            build.rename(target / name)
            _fsync_dir(target)
            self.on_step("version-renamed")
            replace_file(target / INVENTORY, data)
            replace_file(target / SIDECAR, sidecar_text(data))
        return inventory

    def _place(self, content: Content, inventory: dict[str, Any], version_dir: Path, name: str) -> str:
        """Copy content into the version unless the object already holds those bytes; return its SHA-512."""
        known = known_digest(inventory, content)
        if known is not None:
            return known
        content_path = f"{name}/content/{content.logical_path}"
        written = copy_content(content, version_dir / "content" / content.logical_path, on_chunk=self.on_chunk)
        digest = written.digests["sha512"]
        if digest in inventory["manifest"]:  # same bytes under another name: keep one copy
            _remove_with_empty_parents(version_dir / "content" / content.logical_path, stop=version_dir)
            return digest
        _add(inventory["manifest"], digest, content_path)
        for algorithm in FIXITY:
            _add(inventory["fixity"].setdefault(algorithm, {}), written.digests[algorithm], content_path)
        return digest


def _remove_with_empty_parents(path: Path, *, stop: Path) -> None:
    """Remove a file and the folders it leaves empty, up to stop: OCFL forbids empty folders in content (E024)."""
    path.unlink()
    folder = path.parent
    while folder != stop and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _start_inventory(object_id: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    if previous is not None:
        copied: dict[str, Any] = json.loads(json.dumps(previous))  # a deep copy: the previous head stays as it was
        return copied
    return {"id": object_id, "type": INVENTORY_TYPE, "digestAlgorithm": "sha512", "contentDirectory": "content",
            "head": "v1", "manifest": {}, "versions": {}, "fixity": {}}


def known_digest(inventory: dict[str, Any], content: Content) -> str | None:
    """Return the SHA-512 of content the object already holds, found by the SHA-256 the vault recorded for it."""
    sha256 = content.expected.get("sha256")
    if not sha256:
        return None
    for path in inventory["fixity"].get("sha256", {}).get(sha256, []):
        for digest, paths in inventory["manifest"].items():
            if path in paths:
                return str(digest)
    return None
