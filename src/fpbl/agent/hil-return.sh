#!/bin/sh
# hil-return: the return agent of a customer image (docs/fast-provisioning.md,
# "The return agent"). busybox sh. Adds hil.ip to the NIC with hil.mac, then
# every 2 s posts agent=return state=running to <hil.url>/fpbl/v1/agent. While
# the node is deployed that fails (the NIC is on the tenant's network); once
# HIL has moved the NIC back, the answer is command=return: download the FPBL,
# check both SHA-256, kexec -l, post state=returning, kexec -e.
#
# Debian's busybox wget has no working -T: `timeout N wget` stands in for it.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "hil-return: $*"; }

cmdline_arg() {
  for a in $(cat /proc/cmdline); do
    case "$a" in "$1"=*) echo "${a#*=}"; return ;; esac
  done
}

URL=$(cmdline_arg hil.url)
TOKEN=$(cmdline_arg hil.token)
MAC=$(cmdline_arg hil.mac | tr 'A-F' 'a-f')
HIL_IP=$(cmdline_arg hil.ip)
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
WORK=/run/hil-return
mkdir -p "$WORK"
REPLY="$WORK/reply"
WERR="$WORK/wget.err"

if [ -z "$URL" ] || [ -z "$TOKEN" ] || [ -z "$MAC" ]; then
  say "no hil.url, hil.token or hil.mac on the kernel command line; not started"
  exit 0
fi

IFACE=
tries=0
while [ -z "$IFACE" ]; do
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$MAC" ] && IFACE=${d##*/}
  done
  [ -n "$IFACE" ] && break
  tries=$((tries + 1))
  [ "$tries" = 1 ] && say "waiting for a NIC with MAC $MAC"
  sleep 1
done
ip link set "$IFACE" up
if [ -n "$HIL_IP" ]; then
  ip addr add "$HIL_IP" dev "$IFACE" 2>/dev/null
  say "added $HIL_IP to $IFACE ($MAC)"
fi
say "polling $URL every 2 s"

val() { sed -n "s/^$1=//p" "$REPLY" 2>/dev/null | tr -d '\r' | head -n 1; }

fetch() { # URL FILE
  rm -f "$2" "$WERR"
  timeout 600 wget -q -O "$2" --header "Authorization: Bearer $TOKEN" "$1" 2>"$WERR" && return 0
  say "download of $1 failed: $(tr '\n' ' ' < "$WERR")"
  return 1
}

check_sha() { # FILE EXPECTED NAME
  got=$(sha256sum "$1" | cut -d' ' -f1)
  want=$(echo "$2" | tr 'A-F' 'a-f')
  [ "$got" = "$want" ] && return 0
  say "$3 sha256 mismatch: expected $want, got $got; not loaded"
  return 1
}

KEXEC_FAST=
kexec --help 2>&1 | grep -q -- '--no-checks' && KEXEC_FAST=-i

# quiesce: nothing left for the disks when the kernel stops. kexec stops no
# process and no filesystem, and the kernel's shutdown flushes each SCSI
# disk's cache: on a diskless OS's network disk, whose transport is already
# going by then, that command waited out the SCSI error handling (80 s in
# the lab) before the FPBL started. So: sync, remount every filesystem
# read-only (sysrq "u", which works with files still open, as at an
# emergency reboot), then tell the kernel the SCSI disks' caches are
# write-through ("temporary": the disk itself is not asked to change), so
# that its shutdown has nothing left to flush, and give any command it
# still sends 2 s.
quiesce() {
  sync
  if [ -w /proc/sysrq-trigger ]; then
    echo 1 > /proc/sys/kernel/sysrq 2>/dev/null
    echo s > /proc/sysrq-trigger
    echo u > /proc/sysrq-trigger
    for i in 1 2 3 4 5 6 7 8 9 10; do
      grep -q '^[^ ]* / [^ ]* ro[, ]' /proc/mounts && break
      sleep 0.2
    done
  fi
  for d in /sys/class/scsi_disk/*; do
    [ -e "$d/cache_type" ] || continue
    echo "temporary write through" > "$d/cache_type" 2>/dev/null
    echo 2 > "$d/device/timeout" 2>/dev/null
  done
  say "filesystems synced and read-only, SCSI caches off"
}

do_return() {
  k_url=$(val kernel_url); k_sha=$(val kernel_sha256)
  i_url=$(val initrd_url); i_sha=$(val initrd_sha256)
  cmd=$(val cmdline)
  if [ -z "$k_url" ] || [ -z "$k_sha" ] || [ -z "$i_url" ] || [ -z "$i_sha" ]; then
    say "command=return without kernel_url, kernel_sha256, initrd_url and initrd_sha256; ignored"; return 1
  fi
  pay="$WORK/fpbl"
  rm -rf "$pay"; mkdir -p "$pay"
  say "return: downloading the FPBL from $k_url and $i_url"
  fetch "$k_url" "$pay/vmlinuz" && fetch "$i_url" "$pay/initrd.img" || { rm -rf "$pay"; return 1; }
  check_sha "$pay/vmlinuz" "$k_sha" kernel && check_sha "$pay/initrd.img" "$i_sha" initrd || { rm -rf "$pay"; return 1; }
  say "return: checksums ok; kexec -l"
  if ! kexec $KEXEC_FAST -l "$pay/vmlinuz" --initrd="$pay/initrd.img" --append="$cmd" 2>"$WERR"; then
    say "return: kexec -l failed: $(tr '\n' ' ' < "$WERR")"; rm -rf "$pay"; return 1
  fi
  rm -rf "$pay"
  body="agent=return
state=returning
mac=$MAC
boot_id=$BOOT_ID
uptime=$(cut -d' ' -f1 /proc/uptime)"
  timeout 2 wget -q -O /dev/null --header "Authorization: Bearer $TOKEN" --post-data "$body" "$URL/fpbl/v1/agent" 2>/dev/null
  quiesce
  say "kexec -e now"
  kexec -e
  say "kexec -e failed"
  kexec -u
  return 1
}

reachable=unknown
while :; do
  body="agent=return
state=running
mac=$MAC
boot_id=$BOOT_ID
uptime=$(cut -d' ' -f1 /proc/uptime)"
  rm -f "$REPLY" "$WERR"
  if timeout 2 wget -q -O "$REPLY" --header "Authorization: Bearer $TOKEN" --post-data "$body" "$URL/fpbl/v1/agent" 2>"$WERR"; then
    [ "$reachable" = yes ] || say "HIL answers"
    reachable=yes
    if [ "$(val command)" = return ]; then
      say "command: return"
      do_return
    fi
  else
    # Expected while the node is deployed: say so once, not every 2 s.
    if [ "$reachable" != no ]; then
      why=$(tr '\n' ' ' < "$WERR" 2>/dev/null)
      say "HIL not reachable (expected while deployed): ${why:-no answer in 2 s}"
    fi
    reachable=no
  fi
  sleep 2
done
