#!/bin/sh
# mmdebstrap essential hook ($1: the root file system, after the essential packages): two package scripts that only
# waste time or run away under qemu-user are replaced by no-ops until the customize hook puts them back.
#  - update-initramfs: every kernel and firmware package would rebuild the initramfs; it is built once at the end.
#  - mariadb-install-db: mariadb-server's postinst runs it, and under qemu-user it grows without bound; the box's
#    database is created on first boot, on the board.
set -eu
root=$1
for f in /usr/sbin/update-initramfs /usr/bin/mariadb-install-db; do
    chroot "$root" dpkg-divert --quiet --local --rename --add "$f"
    printf '#!/bin/sh\nexit 0\n' >"$root$f"
    chmod 755 "$root$f"
done
