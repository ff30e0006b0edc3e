"""Vendor the web app's front-end libraries from the npm registry into evault/web/static/vendor/.

Run from the repository root: `python3 scripts/vendor_web_assets.py`. It downloads each pinned package's tarball,
checks it against the registry's sha512 integrity, copies the files the pages use and the package's licence, and
writes `vendored.json` (name, version, licence, tarball, integrity, and the sha256 of every copied file), which a
test checks against the files. Nothing is loaded from outside the vault at run time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "evault" / "web" / "static" / "vendor"

# package -> (pinned version, files inside the tarball's package/ folder to copy)
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "htmx.org": ("2.0.8", ["dist/htmx.min.js", "LICENSE"]),
    "swagger-ui-dist": ("5.32.0", ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]),
    "tus-js-client": ("4.3.1", ["dist/tus.min.js", "LICENSE"]),
    "hash-wasm": ("4.13.0", ["dist/sha256.umd.min.js", "dist/sm3.umd.min.js", "LICENSE"]),
    "chart.js": ("4.6.2", ["dist/chart.umd.min.js", "LICENSE.md"]),
}


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https registry URLs
        return bytes(response.read())


def vendor_package(name: str, version: str, wanted: list[str]) -> dict[str, object]:
    """Download one package version, verify its integrity, copy the wanted files; return its manifest entry."""
    meta = json.loads(_fetch(f"{REGISTRY}/{name}/{version}"))
    tarball = _fetch(meta["dist"]["tarball"])
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    if algorithm != "sha512" or base64.b64encode(hashlib.sha512(tarball).digest()).decode() != expected:
        raise SystemExit(f"{name}@{version}: tarball does not match the registry's integrity")
    target = VENDOR / name
    shutil.rmtree(target, ignore_errors=True)
    files: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        for path in wanted:
            member = archive.extractfile(f"package/{path}")
            if member is None:
                raise SystemExit(f"{name}@{version}: no {path} in the tarball")
            data = member.read()
            destination = target / Path(path).name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(data)
            files[Path(path).name] = hashlib.sha256(data).hexdigest()
    return {"name": name, "version": version, "license": meta.get("license", ""), "tarball": meta["dist"]["tarball"],
            "integrity": meta["dist"]["integrity"], "files": files}


def main() -> None:
    """Vendor every pinned package and write the manifest."""
    manifest = [vendor_package(name, version, wanted) for name, (version, wanted) in PACKAGES.items()]
    (VENDOR / "vendored.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    for entry in manifest:
        print(f"{entry['name']}@{entry['version']} ({entry['license']})")


if __name__ == "__main__":
    main()
