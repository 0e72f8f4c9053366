#!/usr/bin/env bash
# Installs the Debian packages that confbox and its tests need. Idempotent; silent when all is there.
#   scripts/setup-host.sh         what `npm start` and `npm test` need
#   scripts/setup-host.sh image   also what `npm run image` and `npm run image:test` need
# Run it as root, or as a user with sudo: when something needs root, it runs itself again through sudo.
set -euo pipefail

# Root is needed only to install packages or register qemu-aarch64: a user gets the same script again through sudo.
as_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    echo "setup-host: $1; asking sudo" >&2
    exec sudo -- bash "$0" "${args[@]}"
  fi
  echo "setup-host: $1; run this script as root (there is no sudo here)" >&2
  exit 1
}
args=("$@")

packages=(
  mariadb-server   # the embedded default database (the box runs its own mariadbd)
  mariadb-client
  sip-tester       # SIPp: the phones of the integration tests and benchmarks
  iproute2
  systemd          # systemd-analyze, systemd-sysusers, systemd-tmpfiles: the tests check board/rootfs with them
  build-essential  # the media engine: C compiler and make for the addon and its C tests
  clang-format     # the media engine's C style (.clang-format), checked by the test run (build.sh format)
  clang libclang-rt-14-dev  # libFuzzer with ASan and UBSan (its runtimes are not in clang itself): the media engine's fuzz targets (firmware/media/native/fuzz/), run by the test run and npm run fuzz
  libspandsp-dev   # spandsp's G.722, the independent implementation the engine's G.722 is cross-tested with (test_g722_spandsp.c)
  python3          # node-gyp; systemd's side of the supervision tests (test/support/*.py)
  libasound2-dev   # ALSA headers for the media engine's local leg (the box's own sound card); libasound2 itself is loaded at run time
  libsrtp2-dev     # libsrtp2 headers for the media engine's SRTP, and libsrtp2-1, which it loads at run time (dlopen) for SRTP calls and test_srtp
  libspeexdsp-dev  # speexdsp headers for the local leg's echo canceller, and libspeexdsp1, which it loads at run time (dlopen)
  espeak-ng        # the spoken prompts, generated at build time (scripts/prompts.mjs)
  chromium         # headless browser of the web page tests (driven by playwright-core)
  zzuf             # mutates the SIP datagrams of the flood test and benchmark (test/support/flood.ts)
  sipvicious       # svwar and svcrack: the attacker's tools of test/integration/sip-auth.test.ts (enumeration, password guessing)
  openssl          # certificates for the --tls-cert tests (the box makes its own without it)
  kamailio         # a record-routing SIP proxy in front of the box: test/integration/proxy.test.ts
  baresip-core     # baresip: a third-party SIP phone in test/integration/baresip.test.ts (g711, ausine, aubridge, sndfile modules)
  linphone-cli     # linphonec: linphone 5.1, a third-party SIP phone in test/integration/phones.test.ts (how phones take each rejection)
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu  # the media engine cross-compiled for the box's arm64 boards
  qemu-user-static # runs the arm64 engine tests and the arm64 Node runtime on this machine
  valgrind         # npm run bench: the mixer's instructions per member-frame on x86-64 (counted, not timed)
  rauc squashfs-tools  # firmware updates: test/integration/update.test.ts runs the real rauc service; npm run image signs bundles
  libubootenv-tool u-boot-tools  # fw_setenv/fw_printenv (RAUC's view of U-Boot's boot state), mkenvimage and mkimage
  dbus             # dbus-daemon: the private bus of the update test's rauc service
  galera-4 rsync   # a three-node MariaDB Galera cluster on loopback (test/support/galera.ts; rsync: its state transfers)
)
case "${1:-}" in
  '') ;;
  image)
    packages+=(
      mmdebstrap debian-archive-keyring  # the image's base root file system (arm64 packages, configured under qemu-user)
      zstd                               # the cached base root file system is a .tar.zst
      arch-test                          # tells whether arm64 programs run here
      dosfstools mtools                  # the boot partition (FAT), written without mounting
      e2fsprogs fdisk                    # the root partition (mke2fs -d) and the partition table (sfdisk)
      xz-utils bmap-tools                # the compressed image and its block map
      qemu-system-arm qemu-utils         # the image's boot test (qemu-system-aarch64, qemu-img)
      u-boot-qemu                        # U-Boot for qemu's arm64 virt machine: the boot test starts the slots as the board does
    )
    ;;
  *)
    echo "setup-host: unknown argument \"$1\" (known: image)" >&2
    exit 2
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  as_root "missing packages: ${missing[*]}"
  echo "setup-host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the system MariaDB on install; the box runs its own server, so leave the system one as it was.
  echo "setup-host: done"
fi

# arm64 programs (the engine's tests, the arm64 Node runtime, the image's package scripts) run through the
# kernel's binfmt_misc rule for qemu-aarch64. Registrations do not survive a reboot, so this is checked every time.
rule=/proc/sys/fs/binfmt_misc/qemu-aarch64
if [ -e "$rule" ] && head -n1 "$rule" | grep -qx enabled; then exit 0; fi
as_root "arm64 programs cannot run here yet: qemu-aarch64 is not registered in binfmt_misc"
if ! mountpoint -q /proc/sys/fs/binfmt_misc && ! mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; then
  echo "setup-host: cannot mount binfmt_misc (a container without that privilege?): arm64 programs cannot run here; register qemu-aarch64 on the host" >&2
  exit 1
fi
if [ -e "$rule" ]; then
  echo 1 >"$rule"
elif ! cat /usr/lib/binfmt.d/qemu-aarch64.conf >/proc/sys/fs/binfmt_misc/register; then
  echo "setup-host: the kernel refused the qemu-aarch64 binfmt rule: arm64 programs cannot run here" >&2
  exit 1
fi
echo "setup-host: registered qemu-aarch64 for arm64 programs (binfmt_misc)"
