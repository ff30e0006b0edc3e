#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the vault and its tests need; skips what is already there.
#   scripts/install-system-deps.sh            ffmpeg, jq, Pango and CJK fonts (enough to run the vault; PDF reports)
#   scripts/install-system-deps.sh --test     plus PostgreSQL, Ceph RGW (one-node), zip, openssl, Chromium
#                                             (the browser tests drive Debian's chromium through Playwright),
#                                             docker-compose and Caddy (the compose file's commands run in tests)
#   scripts/install-system-deps.sh --bench    plus nginx and curl: the peers the benchmarks in bench/ compare with
set -euo pipefail

# Pango and CJK fonts: PDF reports (WeasyPrint); jq: the docs read --json with it; libGL and GLib: OpenCV (faces)
packages=(ffmpeg jq fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libgl1 libglib2.0-0)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(postgresql radosgw ceph-mon ceph-osd zip unzip openssl docker-compose caddy chromium)
fi
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(postgresql radosgw ceph-mon ceph-osd openssl zip nginx curl)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ "$(id -u)" != "0" ]]; then
  sudo="sudo"
fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
