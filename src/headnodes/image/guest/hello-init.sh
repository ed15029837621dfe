#!/bin/sh
# The PXE payload's /init (hello.img): DHCP on the first NIC that gets a
# lease, a report to the server that gave it (the headnode's hil-pxe), a
# line on the console, and then nothing: PID 1 idles.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp
for m in $(cat /etc/modules-load); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up

cat > /tmp/udhcpc.sh <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "$ip ${serverid:-$siaddr}" > "/run/lease.$interface" ;;
  deconfig) ip -4 addr flush dev "$interface" ;;
esac
SCRIPT
chmod +x /tmp/udhcpc.sh

nic=
while [ -z "$nic" ]; do
  for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" = lo ] && continue
    ip link set "$n" up
    if udhcpc -i "$n" -n -q -t 5 -T 2 -s /tmp/udhcpc.sh >/dev/null 2>&1; then nic=$n; break; fi
  done
  [ -n "$nic" ] || { echo "hil-pxe-hello: no DHCP answer yet"; sleep 2; }
done
read -r ip server < "/run/lease.$nic"
mac=$(cat "/sys/class/net/$nic/address")
wget -q -O- "http://$server/cgi-bin/report?mac=$mac&ip=$ip" >/dev/null 2>&1 || echo "hil-pxe-hello: could not report to $server"
echo "hil-pxe-hello mac=$mac ip=$ip"
while true; do sleep 3600; done
