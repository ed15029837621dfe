#!/bin/sh
# hil-pxe: the tenant's PXE service for its nodes, on one of this headnode's
# interfaces.
#
#   hil-pxe start <interface>   dnsmasq (DHCP and TFTP) on that interface only, busybox httpd on its address
#   hil-pxe stop                stops both
#   hil-pxe status              "running on <interface> …" (exit 0) or "stopped" (exit 3)
#   hil-pxe reports             the nodes that reported in: "<mac> <ip> <date>" lines
#
# DHCP range, from the interface's first IPv4 address: with a prefix of /24
# or shorter, hosts .100 to .199 of the /24 that holds the address (a /24
# is the usual case); with /25 to /30, the upper half of the subnet but its
# broadcast address. Longer prefixes are refused.
#
# Boot: a PXE ROM (no iPXE yet) gets iPXE over TFTP from /srv/tftp
# (undionly.kpxe, or ipxe.efi for EFI clients); an iPXE (DHCP option 175 or
# user class "iPXE"; QEMU's NIC ROMs are iPXE) gets http://<address>/boot.ipxe,
# which boots the PXE payload: the kernel and /srv/http/hello.img, whose init
# reports in to /cgi-bin/report (report.cgi) and prints hil-pxe-hello.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
RUN=/run/hil-pxe
REPORTS=/var/log/hil-pxe/reports

die() { echo "hil-pxe: $*" >&2; exit 1; }
running() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
to_int() { local IFS=.; set -- $1; echo $((($1 << 24) | ($2 << 16) | ($3 << 8) | $4)); }
to_ip() { echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"; }

# Prints "<first> <last> <netmask>" of the DHCP range for address/prefix.
dhcp_range() {
  a=$(to_int "$1")
  prefix=$2
  mask=$(((0xffffffff << (32 - prefix)) & 0xffffffff))
  net=$((a & mask))
  bcast=$((net | (~mask & 0xffffffff)))
  if [ "$prefix" -le 24 ]; then
    first=$(((a & 0xffffff00) + 100))
    last=$(((a & 0xffffff00) + 199))
  else
    first=$((net + (bcast - net + 1) / 2))
    last=$((bcast - 1))
  fi
  echo "$(to_ip "$first") $(to_ip "$last") $(to_ip "$mask")"
}

start() {
  ifname=$1
  [ -n "$ifname" ] || die "usage: hil-pxe start <interface>"
  [ -d "/sys/class/net/$ifname" ] || die "no interface $ifname"
  if running dnsmasq; then die "already running on $(cat "$RUN/interface")"; fi
  cidr=$(ip -4 -o addr show dev "$ifname" | awk '{ print $4; exit }')
  [ -n "$cidr" ] || die "$ifname has no IPv4 address"
  addr=${cidr%/*}
  prefix=${cidr#*/}
  [ "$prefix" -le 30 ] || die "$ifname's subnet /$prefix is too small for a DHCP range"
  set -- $(dhcp_range "$addr" "$prefix")
  mkdir -p "$RUN" /var/log/hil-pxe
  echo "$ifname" > "$RUN/interface"
  # Root throughout: the headnode has no other users, and dnsmasq writes its leases and log as root.
  dnsmasq --port=0 --no-resolv --no-hosts --user=root --group=root \
    --interface="$ifname" --bind-interfaces --except-interface=lo \
    --pid-file="$RUN/dnsmasq.pid" --dhcp-leasefile="$RUN/dnsmasq.leases" \
    --log-dhcp --log-facility=/var/log/dnsmasq.log \
    --dhcp-range="$1,$2,$3,1h" --dhcp-authoritative \
    --enable-tftp --tftp-root=/srv/tftp \
    --dhcp-match=set:ipxe,175 --dhcp-userclass=set:ipxe,iPXE \
    --dhcp-match=set:efi,option:client-arch,7 --dhcp-match=set:efi,option:client-arch,9 \
    --dhcp-boot="tag:ipxe,http://$addr/boot.ipxe" \
    --dhcp-boot=tag:!ipxe,tag:efi,ipxe.efi \
    --dhcp-boot=tag:!ipxe,tag:!efi,undionly.kpxe \
    </dev/null >"$RUN/dnsmasq.out" 2>&1 || die "dnsmasq did not start: $(cat "$RUN/dnsmasq.out")"
  # Its own session, nothing of the caller's open: an SSH command that started it returns at once.
  setsid httpd -f -p "$addr:80" -h /srv/http </dev/null >>/var/log/hil-pxe/httpd.log 2>&1 &
  echo $! > "$RUN/httpd.pid"
  sleep 0.2
  running httpd || { stop >/dev/null; die "httpd did not start on $addr:80 (/var/log/hil-pxe/httpd.log)"; }
  echo "hil-pxe: serving $ifname ($cidr): DHCP $1-$2, TFTP /srv/tftp, http://$addr/boot.ipxe"
}

stop() {
  for d in dnsmasq httpd; do
    running "$d" && kill "$(cat "$RUN/$d.pid")"
    rm -f "$RUN/$d.pid"
  done
  rm -f "$RUN/interface"
  echo "hil-pxe: stopped"
}

status() {
  if running dnsmasq && running httpd; then
    echo "hil-pxe: running on $(cat "$RUN/interface") (dnsmasq $(cat "$RUN/dnsmasq.pid"), httpd $(cat "$RUN/httpd.pid"))"
  elif running dnsmasq || running httpd; then
    echo "hil-pxe: half running (dnsmasq $(running dnsmasq && echo up || echo down), httpd $(running httpd && echo up || echo down)); hil-pxe stop, then start"
    return 1
  else
    echo "hil-pxe: stopped"
    return 3
  fi
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop ;;
  status) status ;;
  reports) [ -f "$REPORTS" ] && cat "$REPORTS"; true ;;
  *) die "usage: hil-pxe start <interface> | stop | status | reports" ;;
esac
