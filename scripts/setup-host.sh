#!/usr/bin/env bash
# Installs the Debian packages that confbox and its tests need. Idempotent; silent when all is there.
set -euo pipefail

packages=(
  mariadb-server   # the embedded default database (the box runs its own mariadbd)
  mariadb-client
  sip-tester       # SIPp: the phones of the integration tests and benchmarks
  iproute2
  systemd          # systemd-analyze, systemd-sysusers, systemd-tmpfiles: the tests check board/rootfs with them
  build-essential  # the media engine: C compiler and make for the addon and its C tests
  python3          # node-gyp; systemd's side of the supervision tests (test/support/*.py)
  libasound2-dev   # ALSA headers for the media engine's local leg (the box's own sound card); libasound2 itself is loaded at run time
  espeak-ng        # the spoken prompts, generated at build time (scripts/prompts.mjs)
  chromium         # headless browser of the web page tests (driven by playwright-core)
  baresip-core     # baresip: a third-party SIP phone in test/integration/baresip.test.ts (g711, ausine, aubridge, sndfile modules)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: missing packages: ${missing[*]}; run this script as root (or with sudo)" >&2
  exit 1
fi
echo "setup-host: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the system MariaDB on install; the box runs its own server, so leave the system one as it was.
echo "setup-host: done"
