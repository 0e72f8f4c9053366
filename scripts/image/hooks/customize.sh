#!/bin/sh
# mmdebstrap customize hook ($1: the root file system, every package installed): the no-op stand-ins of the essential
# hook are removed, and the initramfs is built once (raspi-firmware's hook copies it to /boot/firmware).
set -eu
root=$1
for f in /usr/sbin/update-initramfs /usr/bin/mariadb-install-db; do
    rm -f "$root$f"
    chroot "$root" dpkg-divert --quiet --local --rename --remove "$f"
done
chroot "$root" update-initramfs -c -k all
# The system MariaDB's data directory is left empty by the skipped install; it is not used by the box.
rm -rf "$root/var/lib/mysql"
mkdir -p "$root/var/lib/mysql"
chroot "$root" chown mysql:mysql /var/lib/mysql
