"""`evault init` tells the operator when the keys or the local store's originals sit on an unencrypted volume."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from evault.volumes import Encryption, volume_of
from evault_client.cli import root

# Three mounts as the kernel lists them: a plain disk, LVM on LUKS, and tmpfs.
MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 253:1 / /srv/evault rw,relatime - xfs /dev/mapper/vg-evault rw
41 27 0:23 / /srv/scratch rw,relatime - tmpfs tmpfs rw
42 27 0:45 / /home/officer/private rw,relatime - ecryptfs /home/officer/.Private rw
"""


def _sysfs(root: Path) -> Path:
    """Build the part of /sys the check reads: vda plain, dm-1 (LVM) on dm-0 (dm-crypt) on vdb."""
    (root / "dev" / "block" / "254:0").mkdir(parents=True)
    lvm = root / "class" / "block" / "dm-1"
    crypt = root / "class" / "block" / "dm-0"
    for folder, uuid in ((lvm, "LVM-abc"), (crypt, "CRYPT-LUKS2-0123-evault")):
        (folder / "dm").mkdir(parents=True)
        (folder / "dm" / "uuid").write_text(uuid + "\n", encoding="ascii")
        (folder / "slaves").mkdir()
    (lvm / "slaves" / "dm-0").mkdir()
    (crypt / "slaves" / "vdb").mkdir()
    (root / "class" / "block" / "vdb").mkdir()
    os.symlink(lvm, root / "dev" / "block" / "253:1")
    return root


def test_each_kind_of_volume_is_told_apart(tmp_path: Path) -> None:
    sysfs = _sysfs(tmp_path / "sys")
    found = {path: volume_of(Path(path), mountinfo=MOUNTINFO, sys_root=sysfs)
             for path in ("/var/lib/evault", "/srv/evault/objects", "/srv/scratch/x", "/home/officer/private/v")}
    assert {path: (v.mount_point, v.encryption) for path, v in found.items() if v} == {
        "/var/lib/evault": ("/", Encryption.NOT_ENCRYPTED),
        "/srv/evault/objects": ("/srv/evault", Encryption.ENCRYPTED),  # LVM on LUKS: found below the LVM volume
        "/srv/scratch/x": ("/srv/scratch", Encryption.UNKNOWN),
        "/home/officer/private/v": ("/home/officer/private", Encryption.ENCRYPTED),
    }


def test_init_warns_once_for_a_home_on_this_machines_plain_disk(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    volume = volume_of(tmp_path)
    assert volume is not None
    result = CliRunner().invoke(root, ["init"], env={"EVAULT_HOME": str(home), "EVAULT_DATABASE_URL": database_url,
                                                     "EVAULT_LOG_JSON": "false"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    if volume.encryption is Encryption.NOT_ENCRYPTED:
        assert len(warnings) == 1, result.stderr
        assert "the signing and personal-data keys and the local store's originals" in warnings[0]
        assert volume.source in warnings[0] and "docs/deploy.md" in warnings[0]
    else:
        assert warnings == [], result.stderr
