#!/bin/sh
# /cgi-bin/report?mac=<mac>&ip=<ip> (busybox httpd): a PXE-booted node reports
# in. Only MAC and IPv4 characters reach the file, whatever the query holds.
field() { echo "$QUERY_STRING" | tr '&' '\n' | sed -n "s/^$1=//p" | head -n 1 | tr -cd "$2"; }
mac=$(field mac '0-9a-fA-F:')
ip=$(field ip '0-9.')
if [ -n "$mac" ]; then
  mkdir -p /var/log/hil-pxe
  echo "$mac ${ip:--} $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> /var/log/hil-pxe/reports
  printf 'Content-Type: text/plain\r\n\r\nrecorded %s\n' "$mac"
else
  printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nno mac=\n'
fi
