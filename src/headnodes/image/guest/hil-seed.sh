#!/bin/sh
# hil-seed <dir>: applies a mounted NoCloud seed, in the fixed layout that
# src/headnodes/image/seed.ts writes (its header comment describes it; this
# parser reads that layout only, not YAML in general):
#   meta-data       local-hostname
#   user-data       ssh_authorized_keys ("  - '<key>'" lines, '' for ')
#   network-config  per interface: its name, match macaddress, set-name,
#                   then addresses ("      - <cidr>") or dhcp4: true
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
seed=$1
say() { echo "hil-headnode: $*"; }

host=$(sed -n 's/^local-hostname: *//p' "$seed/meta-data" 2>/dev/null | head -n 1)
if [ -n "$host" ]; then
  hostname "$host"
  echo "$host" > /etc/hostname
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$host" > /etc/hosts
fi

mkdir -p /root/.ssh
chmod 700 /root/.ssh
sed -n "/^ssh_authorized_keys:/,/^[^ ]/s/^  - '\(.*\)'\$/\1/p" "$seed/user-data" 2>/dev/null | sed "s/''/'/g" > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
chown -R 0:0 /root/.ssh
say "$(grep -c . /root/.ssh/authorized_keys) SSH key(s) for root"

# One line per interface: <name> <mac> <cidr|dhcp>.
awk '
  function flush() { if (name != "") print name, mac, (addr != "" ? addr : "dhcp"); name = ""; mac = ""; addr = "" }
  /^ethernets:/ { inside = 1; next }
  /^[^ ]/ { if (inside) flush(); inside = 0 }
  inside && /^  [a-z0-9_-]+:$/ { flush(); name = $1; sub(/:$/, "", name); next }
  inside && /^      macaddress:/ { mac = $2; gsub(/"/, "", mac); next }
  inside && /^      - / && addr == "" { addr = $2; next }
  END { if (inside) flush() }
' "$seed/network-config" > /run/hil-interfaces 2>/dev/null

dev_by_mac() {
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
  done
  return 1
}

# Renamed in two passes: a wanted name may belong to another NIC until that one is renamed too.
i=0
while read -r name mac how; do
  dev=$(dev_by_mac "$mac") || { say "no NIC with MAC $mac (for $name)"; continue; }
  [ "$dev" = "$name" ] && continue
  ip link set "$dev" down
  ip link set "$dev" name "hilseed$i"
  i=$((i + 1))
done < /run/hil-interfaces
while read -r name mac how; do
  dev=$(dev_by_mac "$mac") || continue
  [ "$dev" = "$name" ] || ip link set "$dev" name "$name" || say "cannot rename $dev to $name"
  ip link set "$name" up
  if [ "$how" = dhcp ]; then
    udhcpc -i "$name" -b -t 2 -T 2 -S -s /etc/hil/udhcpc -p "/run/udhcpc.$name.pid" -x "hostname:$(hostname)" >/dev/null 2>&1
    say "$name ($mac): DHCP"
  else
    ip addr add "$how" dev "$name" && say "$name ($mac): $how"
  fi
done < /run/hil-interfaces
