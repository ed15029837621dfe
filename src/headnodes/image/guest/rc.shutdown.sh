#!/bin/sh
# init's shutdown action (poweroff, reboot, or the ACPI power button through
# acpid): stop the services that write to the disk, then leave the root
# filesystem clean before init kills what is left.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "hil-headnode: shutting down"
hil-pxe stop >/dev/null 2>&1
pids=
for pidfile in /run/dropbear.pid /run/acpid.pid /run/udhcpc.*.pid; do
  [ -f "$pidfile" ] && pids="$pids $(cat "$pidfile")"
done
[ -n "$pids" ] && kill $pids 2>/dev/null
sync
# A read-only root needs no journal recovery on the next boot; the killed ones may take a moment to close their files.
i=0
until mount -o remount,ro / 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 20 ] || { echo "hil-headnode: the root filesystem stays read-write (files still open)"; break; }
  sleep 0.1
done
sync
