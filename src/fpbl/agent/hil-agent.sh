#!/bin/sh
# hil-agent: the FPBL's agent (docs/fast-provisioning.md, "Agent protocol").
# busybox sh. Reads hil.url, hil.token, hil.mac from /proc/cmdline, gets an
# address by DHCP on the NIC with that MAC, then reports to
# <hil.url>/fpbl/v1/agent and does what the answer says: none, wipe, deploy,
# wait, abort. Every step is printed on the console, prefixed "hil-agent:".
#
# busybox's wget in Debian 12 has no working -T (it crashes), so every wget
# runs under `timeout N`, which is what -T N would have been.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "hil-agent: $*"; }

cmdline_arg() { # the value of $1=… on the kernel command line
  for a in $(cat /proc/cmdline); do
    case "$a" in "$1"=*) echo "${a#*=}"; return ;; esac
  done
}

URL=$(cmdline_arg hil.url)
TOKEN=$(cmdline_arg hil.token)
MAC=$(cmdline_arg hil.mac | tr 'A-F' 'a-f')
BOOT_ID=$(cat /proc/sys/kernel/random/boot_id)
WORK=/run/hil-agent
mkdir -p "$WORK"
REPLY="$WORK/reply"
WERR="$WORK/wget.err"

if [ -z "$URL" ] || [ -z "$TOKEN" ] || [ -z "$MAC" ]; then
  say "no hil.url, hil.token or hil.mac on the kernel command line; nothing to do"
  exec sleep 2147483647
fi

# --- the NIC and its address -------------------------------------------------

IFACE=
while [ -z "$IFACE" ]; do
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$MAC" ] && IFACE=${d##*/}
  done
  [ -n "$IFACE" ] && break
  say "waiting for a NIC with MAC $MAC"
  sleep 1
done
ip link set lo up
ip link set "$IFACE" up
say "NIC $IFACE has MAC $MAC; asking for an address by DHCP"

cat > "$WORK/udhcpc.sh" <<'EOF'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    echo "$ip/${mask:-24}" > /run/hil-agent/ip ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
EOF
chmod +x "$WORK/udhcpc.sh"
rm -f "$WORK/ip"
# Without -q/-n: retries until it has a lease, then stays in the background
# and renews it for as long as the FPBL runs.
until [ -s "$WORK/ip" ]; do
  udhcpc -i "$IFACE" -s "$WORK/udhcpc.sh" -t 5 -T 2 -A 3 -p "$WORK/udhcpc.pid" >/dev/null 2>&1 || sleep 2
done
IP=$(cat "$WORK/ip")
say "address $IP on $IFACE; reporting to $URL"

# --- talking to HIL -----------------------------------------------------------

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# post STATE ERROR TIMEOUT: POST the report; the answer is in $REPLY.
# Returns 0 on a 2xx, 2 on a 401, 1 on anything else (the reason in $WHY).
post() {
  IP=$(cat "$WORK/ip" 2>/dev/null || echo "$IP") # a renewal may have changed it
  body="agent=fpbl
state=$1
mac=$MAC
ip=$IP
boot_id=$BOOT_ID
uptime=$(uptime_s)"
  if [ -n "$2" ]; then body="$body
error=$2"; fi
  # Tells HIL this agent heard "wait" (it moves the networks only then).
  if [ -n "$WAITING" ]; then body="$body
waiting=1"; fi
  rm -f "$REPLY" "$WERR"
  if timeout "$3" wget -q -O "$REPLY" --header "Authorization: Bearer $TOKEN" --post-data "$body" "$URL/fpbl/v1/agent" 2>"$WERR"; then
    return 0
  fi
  WHY=$(tr '\n' ' ' < "$WERR" 2>/dev/null)
  [ -n "$WHY" ] || WHY="no answer in $3 s"
  case "$WHY" in *" 401 "*) return 2 ;; esac
  return 1
}

# The value of KEY in the last answer ("" if none).
val() { sed -n "s/^$1=//p" "$REPLY" 2>/dev/null | tr -d '\r' | head -n 1; }

# fetch URL FILE: download with the token, 3 tries. Sets $WHY on failure.
fetch() {
  for try in 1 2 3; do
    rm -f "$2" "$WERR"
    if timeout 600 wget -q -O "$2" --header "Authorization: Bearer $TOKEN" "$1" 2>"$WERR"; then return 0; fi
    WHY=$(tr '\n' ' ' < "$WERR" 2>/dev/null)
    [ -n "$WHY" ] || WHY="timed out"
    say "download of $1 failed (try $try of 3): $WHY"
    case "$WHY" in *" 401 "*|*" 404 "*) return 1 ;; esac
    sleep 2
  done
  return 1
}

# --- commands ------------------------------------------------------------------

LOADED=
STATE=fresh
ERROR=

fail() { STATE=failed; ERROR="$*"; say "failed: $*"; }

unload() {
  if [ -n "$LOADED" ]; then say "kexec -u (unloading $LOADED)"; kexec -u; fi
  LOADED=
}

do_wipe() {
  unload
  disks=0
  for d in /sys/block/*; do
    [ -e "$d" ] || continue
    n=${d##*/}
    case "$n" in ram*|loop*|sr*) continue ;; esac
    dev=/dev/$n
    sectors=$(cat "$d/size")
    bytes=$((sectors * 512))
    if [ ! -b "$dev" ]; then fail "wipe: $dev is not a block device"; return; fi
    if [ "$(cat "$d/ro" 2>/dev/null)" = 1 ]; then fail "wipe: $dev is read-only"; return; fi
    disks=$((disks + 1))
    if blkdiscard "$dev" 2>/dev/null; then say "wipe $dev ($bytes bytes): discarded"
    else say "wipe $dev ($bytes bytes): no discard, zeroing only"; fi
    say "wipe $dev: zeroing"
    mib=$((bytes / 1048576))
    rest=$(( (bytes - mib * 1048576) / 512 ))
    if [ "$mib" -gt 0 ] && ! dd if=/dev/zero of="$dev" bs=1048576 count="$mib" conv=fsync 2>"$WERR"; then
      fail "wipe: zeroing $dev failed: $(tr '\n' ' ' < "$WERR")"; return
    fi
    if [ "$rest" -gt 0 ] && ! dd if=/dev/zero of="$dev" bs=512 seek=$((mib * 2048)) count="$rest" conv=fsync 2>"$WERR"; then
      fail "wipe: zeroing the end of $dev failed: $(tr '\n' ' ' < "$WERR")"; return
    fi
    left=$(dd if="$dev" bs=1048576 count=1 2>/dev/null | tr -d '\000' | wc -c)
    if [ "$left" != 0 ]; then fail "wipe: $dev still has data after zeroing"; return; fi
    say "wipe $dev: done"
  done
  sync
  say "wiped $disks disk(s)"
  STATE=wiped; ERROR=
}

check_sha() { # FILE EXPECTED NAME
  got=$(sha256sum "$1" | cut -d' ' -f1)
  want=$(echo "$2" | tr 'A-F' 'a-f')
  if [ "$got" != "$want" ]; then
    fail "$3 sha256 mismatch: expected $want, got $got"
    return 1
  fi
  say "$3 sha256 $got ok"
}

do_deploy() {
  unload
  k_url=$(val kernel_url); k_sha=$(val kernel_sha256)
  i_url=$(val initrd_url); i_sha=$(val initrd_sha256)
  cmd=$(val cmdline)
  if [ -z "$k_url" ] || [ -z "$k_sha" ] || [ -z "$i_url" ] || [ -z "$i_sha" ]; then
    fail "deploy: kernel_url, kernel_sha256, initrd_url and initrd_sha256 are all needed"; return
  fi
  pay="$WORK/payload"
  rm -rf "$pay"; mkdir -p "$pay"
  say "deploy: downloading the kernel from $k_url"
  if ! fetch "$k_url" "$pay/kernel"; then fail "deploy: kernel download failed: $WHY"; rm -rf "$pay"; return; fi
  say "deploy: downloading the initrd from $i_url"
  if ! fetch "$i_url" "$pay/initrd"; then fail "deploy: initrd download failed: $WHY"; rm -rf "$pay"; return; fi
  if ! check_sha "$pay/kernel" "$k_sha" kernel || ! check_sha "$pay/initrd" "$i_sha" initrd; then
    rm -rf "$pay"; return
  fi
  say "deploy: kexec -l $(wc -c < "$pay/kernel") + $(wc -c < "$pay/initrd") bytes, cmdline: $cmd"
  if ! kexec $KEXEC_FAST -l "$pay/kernel" --initrd="$pay/initrd" --append="$cmd" 2>"$WERR"; then
    fail "deploy: kexec -l failed: $(tr '\n' ' ' < "$WERR")"; rm -rf "$pay"; return
  fi
  rm -rf "$pay" # the kernel holds its own copy now
  LOADED="kernel $k_sha"
  say "deploy: loaded"
  STATE=loaded; ERROR=
}

KEXEC_FAST=
kexec --help 2>&1 | grep -q -- '--no-checks' && KEXEC_FAST=-i

# --- the loop ------------------------------------------------------------------

WAITING=   # set by "wait": short reports, and kexec -e once HIL is out of reach
FAILS=0    # failed reports in a row while waiting
# How "wait" reports (the server may say otherwise: report_timeout, failures, interval).
WAIT_T=2; WAIT_N=3; WAIT_I=0.5
LASTWHY=
PRINTED="$STATE "
say "state=$STATE"
while :; do
  if [ -n "$WAITING" ]; then t=$WAIT_T; else t=30; fi
  post "$STATE" "$ERROR" "$t"; rc=$?
  if [ "$rc" != 0 ]; then
    if [ -n "$WAITING" ]; then
      if [ "$rc" = 2 ]; then
        say "report refused (401, bad token) while waiting: $WHY"; FAILS=0; sleep "$WAIT_I"; continue
      fi
      FAILS=$((FAILS + 1))
      say "report $FAILS of $WAIT_N failed while waiting: $WHY"
      if [ "$FAILS" -ge "$WAIT_N" ]; then
        say "HIL is out of reach: the node has left the provisioning network"
        say "kexec -e now"
        kexec -e
        fail "kexec -e failed"; WAITING=; FAILS=0
      fi
      sleep "$WAIT_I"; continue
    fi
    if [ "$rc" = 2 ]; then
      say "report refused: 401, bad token ($WHY); retrying in 10 s"; LASTWHY=; sleep 10
    else
      [ "$WHY" = "$LASTWHY" ] || say "report failed: $WHY; retrying every 2 s"
      LASTWHY=$WHY; sleep 2
    fi
    continue
  fi
  [ -n "$LASTWHY" ] && say "reporting again"
  LASTWHY=; FAILS=0
  command=$(val command)
  [ "$STATE" = fresh ] && STATE=idle   # "fresh" is only the first report after a boot
  case "$command" in
    none|"")
      if [ -n "$WAITING" ]; then sleep "$WAIT_I"; else sleep 1; fi ;;
    wait)
      if [ -z "$LOADED" ]; then
        fail "wait: no kernel is loaded"; WAITING=
      else
        if [ -z "$WAITING" ]; then
          # Only plain numbers from the server; anything else keeps the defaults.
          v=$(val report_timeout); case "$v" in [1-9]|[1-9][0-9]) WAIT_T=$v ;; esac
          v=$(val failures); case "$v" in [1-9]|[1-9][0-9]) WAIT_N=$v ;; esac
          v=$(val interval); case "$v" in 0.[0-9]|0.[0-9][0-9]|[1-9]|[1-9].[0-9]) WAIT_I=$v ;; esac
          say "wait: reporting every $WAIT_I s with a $WAIT_T s timeout; kexec -e after $WAIT_N failed reports in a row"
        fi
        WAITING=1; sleep "$WAIT_I"
      fi ;;
    wipe)
      WAITING=; say "command: wipe"; do_wipe ;;
    deploy)
      WAITING=; say "command: deploy"; do_deploy ;;
    abort)
      WAITING=; say "command: abort"; unload; STATE=idle; ERROR= ;;
    *)
      say "unknown command '$command'; ignored"; sleep 1 ;;
  esac
  if [ "$STATE $ERROR" != "$PRINTED" ]; then say "state=$STATE${ERROR:+ error=$ERROR}"; PRINTED="$STATE $ERROR"; fi
done
