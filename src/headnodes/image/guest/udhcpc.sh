#!/bin/sh
# udhcpc's event script on the headnode: the lease's address, its router as
# the default route, its DNS servers in /etc/resolv.conf.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "${router:-}" ] && ip route replace default via "${router%% *}" dev "$interface"
    if [ -n "${dns:-}" ]; then
      : > /etc/resolv.conf
      for s in $dns; do echo "nameserver $s" >> /etc/resolv.conf; done
    fi
    echo "hil-headnode: $interface has $ip/${mask:-24} from DHCP" > /dev/console
    ;;
esac
