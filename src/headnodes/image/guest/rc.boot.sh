#!/bin/sh
# The headnode's boot (init's sysinit action): the pseudo filesystems, the
# seed (hil-seed), the SSH host key on first boot, and acpid for the power
# button. Everything here must finish before dropbear starts.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
[ -e /proc/mounts ] || mount -t proc proc /proc
[ -d /sys/class ] || mount -t sysfs sysfs /sys
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /var/log /var/lib /var/log/hil-pxe
# The image may have been built by someone other than root: what dropbear
# checks (the home directory and the key files) must be root's.
chown 0:0 / /root /etc /etc/dropbear 2>/dev/null
chmod 700 /root
ip link set lo up
hostname headnode

# The seed: the raw ext2 disk labelled cidata (normally /dev/vdb, read-only).
seed=
i=0
while [ -z "$seed" ] && [ "$i" -lt 30 ]; do
  seed=$(findfs LABEL=cidata 2>/dev/null)
  [ -n "$seed" ] || sleep 0.1
  i=$((i + 1))
done
mkdir -p /run/seed
if [ -n "$seed" ] && mount -o ro "$seed" /run/seed; then
  hil-seed /run/seed
else
  echo "hil-headnode: no seed disk (LABEL=cidata): DHCP on every NIC, no SSH keys"
  for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    ip link set "$n" up
    udhcpc -i "$n" -b -t 2 -T 2 -S -s /etc/hil/udhcpc -p "/run/udhcpc.$n.pid" >/dev/null 2>&1
  done
fi

# First boot only: the host key lives on the root disk (the runner's overlay), so a restart keeps it.
key=/etc/dropbear/dropbear_ed25519_host_key
if [ ! -s "$key" ]; then
  mkdir -p /etc/dropbear
  dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1 || echo "hil-headnode: dropbearkey failed"
  sync
fi
dropbearkey -y -f "$key" 2>/dev/null | sed -n 's/^Fingerprint: /hil-headnode: host key fingerprint /p'

# The power button: QEMU's system_powerdown is an ACPI button event on /dev/input/event*.
ls /dev/input/event* >/dev/null 2>&1 && acpid -c /etc/acpi -l /var/log/acpid.log -p /run/acpid.pid
true
