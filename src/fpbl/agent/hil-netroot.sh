#!/bin/sh
# hil-netroot: the /init of a diskless image's initramfs. It finds the root
# filesystem on the node's network disk (an iSCSI LUN that HIL exports to
# this node alone, with its CHAP account), mounts it and switches to it.
#
# It reads dracut's syntax from /proc/cmdline, so that HIL writes one command
# line for this example and for a distribution's dracut initramfs alike:
#   rd.iscsi.initiator=<this node's initiator name>
#   netroot=iscsi:<user>:<secret>@<server>:<protocol>:<port>:<lun>:<target name>
#   ip=dhcp                  (the default: DHCP on the first NIC that gets a lease)
#   hil.mac=<mac>            (optional: that NIC only)
#   root=<device>            (optional: the LUN's filesystem is the whole disk, /dev/sda, by default)
#   hil.install=<device>     (optional: copy the whole network disk onto this local
#                            disk first and boot from the copy, as an installer
#                            would; bench:diskless measures that path against the others)
# Why iSCSI and not NBD: HIL's NBD exports want TLS-PSK, which nbd-client
# (3.24, Debian 12) cannot speak; iscsistart (open-iscsi) does CHAP.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp /newroot /var/lock /run/lock
for m in $(cat /etc/modules-load); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up

say() { echo "hil-netroot: $*"; }
fail() {
  say "$*"
  say "cannot reach the root filesystem; a shell on the console instead"
  while true; do setsid cttyhack sh -l; done
}

netroot= initiator= mac= root=/dev/sda install=
for word in $(cat /proc/cmdline); do
  case "$word" in
    netroot=*) netroot=${word#netroot=} ;;
    rd.iscsi.initiator=*) initiator=${word#rd.iscsi.initiator=} ;;
    hil.mac=*) mac=${word#hil.mac=} ;;
    root=*) root=${word#root=} ;;
    hil.install=*) install=${word#hil.install=} ;;
  esac
done
case "$netroot" in iscsi:*) ;; *) fail "no netroot=iscsi:… on the kernel command line" ;; esac
[ -n "$initiator" ] || fail "no rd.iscsi.initiator= on the kernel command line"

# iscsi:[user:secret@]server:protocol:port:lun:target (the target name has colons of its own).
spec=${netroot#iscsi:}
user= secret=
case "$spec" in
  *@*) creds=${spec%%@*}; spec=${spec#*@}; user=${creds%%:*}; secret=${creds#*:} ;;
esac
server=${spec%%:*}; spec=${spec#*:}
spec=${spec#*:} # the protocol: tcp, the only one
port=${spec%%:*}; spec=${spec#*:}
spec=${spec#*:} # the LUN: the target's first and only, whatever it is numbered
target=$spec
[ -n "$server" ] && [ -n "$target" ] || fail "netroot names no server or no target: $netroot"

cat > /tmp/udhcpc.sh <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$interface $ip/${mask:-24}" > /run/netroot-ip ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
EOF
chmod +x /tmp/udhcpc.sh

# The NICs to try: the one with hil.mac, or every one but lo.
nics=
for tries in 1 2 3 4 5 6 7 8 9 10; do
  for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    if [ -z "$mac" ] || [ "$(cat "$d/address")" = "$mac" ]; then nics="$nics $n"; fi
  done
  [ -n "$nics" ] && break
  sleep 0.5
done
[ -n "$nics" ] || fail "no NIC${mac:+ with MAC $mac}"
for n in $nics; do
  ip link set "$n" up
  udhcpc -i "$n" -s /tmp/udhcpc.sh -q -n -t 10 -T 1 >/dev/null 2>&1 && break
done
[ -s /run/netroot-ip ] || fail "no DHCP lease on$nics"
say "address $(cat /run/netroot-ip); logging in to $target at $server:${port:-3260}"

iscsistart -i "$initiator" -t "$target" -g 1 -a "$server" -p "${port:-3260}" ${user:+-u "$user" -w "$secret"} >/tmp/iscsistart.log 2>&1 ||
  fail "iSCSI login failed: $(tail -n 3 /tmp/iscsistart.log | tr '\n' ' ')"
# The device node appears when the SCSI disk is found, before the kernel has
# read its capacity: until then opening it fails (ENXIO). Wait for a size,
# and give the mount a few tries too.
size=/sys/class/block/${root#/dev/}/size
for i in $(seq 1 80); do [ -b "$root" ] && [ "$(cat "$size" 2>/dev/null || echo 0)" -gt 0 ] && break; sleep 0.25; done
[ -b "$root" ] || fail "logged in, but $root did not appear"
if [ -n "$install" ]; then
  [ -b "$install" ] || fail "hil.install: $install is not a block device"
  bytes=$(( $(cat "$size") * 512 ))
  room=$(( $(cat "/sys/class/block/${install#/dev/}/size") * 512 ))
  [ "$room" -ge "$bytes" ] || fail "hil.install: $install holds $room bytes, the disk $bytes"
  say "installing: copying $root ($bytes bytes) onto $install"
  dd if="$root" of="$install" bs=1048576 conv=fsync 2>/tmp/dd.log || fail "copying onto $install failed: $(tail -n 1 /tmp/dd.log)"
  say "installed $((bytes / 1024)) KiB onto $install"
  root=$install
fi
mounted=
for i in 1 2 3 4 5 6 7 8 9 10; do
  mount -t ext4 -o rw "$root" /newroot 2>/tmp/mount.log && mounted=1 && break
  sleep 0.5
done
[ -n "$mounted" ] || fail "cannot mount $root: $(cat /tmp/mount.log)"
say "root filesystem $root mounted from $server; switching to it"
for fs in /dev /proc /sys; do mount --move "$fs" "/newroot$fs" 2>/dev/null || umount "$fs"; done
exec switch_root /newroot /sbin/init
