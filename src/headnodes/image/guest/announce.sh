#!/bin/sh
# Prints "hil-headnode: ready <hostname>" on the console once dropbear
# listens on port 22 (state 0A, LISTEN, in /proc/net/tcp or tcp6): the
# runner waits for that line before it says the headnode is up.
i=0
while ! grep -Eq ':0016 [0-9A-F]+:0000 0A ' /proc/net/tcp /proc/net/tcp6 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -eq 300 ]; then echo "hil-headnode: dropbear is not listening on port 22 after 60 s (/var/log/dropbear.log)"; fi
  sleep 0.2
done
# On a line of its own: the console shell may have printed its prompt already.
printf '\nhil-headnode: ready %s\n' "$(hostname)"
