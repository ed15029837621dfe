#!/bin/sh
# The headnode's initramfs /init: load the drivers of its virtio disks and
# NICs and ext4 (the list in /etc/modules-load, dependencies first), mount
# its root filesystem read-write (root= on the command line, /dev/vda by
# default: the runner's qcow2 overlay over root.qcow2) and hand over to the
# root's /sbin/init. /dev goes along, so the root's init finds its devices.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules-load); do insmod "/lib/modules/$m" 2>/dev/null; done

root=/dev/vda
for word in $(cat /proc/cmdline); do
  case "$word" in root=/dev/*) root=${word#root=} ;; esac
done
# virtio-blk probes as its module loads, but give a slow host a few seconds.
i=0
while [ ! -b "$root" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 -o rw "$root" /newroot; then
  echo "hil-headnode: cannot mount the root filesystem $root; a shell on the console instead"
  while true; do setsid cttyhack sh -l; done
fi
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /sbin/init
