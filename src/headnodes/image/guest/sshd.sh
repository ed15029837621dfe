#!/bin/sh
# dropbear in the foreground, for init to respawn: key logins only (-s: no
# passwords at all), the host key rc.boot made, connection logs to a file
# rather than the serial console.
exec /usr/sbin/dropbear -F -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key -P /run/dropbear.pid 2>>/var/log/dropbear.log
