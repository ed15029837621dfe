#!/bin/sh
# hil-agent: the FPBL's agent (docs/fast-provisioning.md, "Agent protocol").
# busybox sh. Reads hil.url, hil.token, hil.mac from /proc/cmdline, gets an
# address by DHCP on the NIC with that MAC, then reports to
# <hil.url>/fpbl/v1/agent and does what the answer says: none, wipe, deploy,
# wait, abort, cache, rejoin. Every step is printed on the console, prefixed "hil-agent:".
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
# Blobs (kernels, initrds) kept for deploys to come, each named by its SHA-256.
CACHE=$WORK/cache
mkdir -p "$WORK" "$CACHE"
REPLY="$WORK/reply"
WERR="$WORK/wget.err"

if [ -z "$URL" ] || [ -z "$TOKEN" ] || [ -z "$MAC" ]; then
  say "no hil.url, hil.token or hil.mac on the kernel command line; nothing to do"
  exec sleep 2147483647
fi

# --- the NIC and its address -------------------------------------------------

nic_of() { # the interface with MAC $1, if any
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && echo "${d##*/}"
  done
}

IFACE=
while [ -z "$IFACE" ]; do
  IFACE=$(nic_of "$MAC")
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
# Without -q/-n: retries until it has a lease, then stays in the background
# and renews it for as long as the FPBL runs. Again, from scratch, when HIL
# has not answered for a while: the NIC may have changed networks under a
# lease it still holds (a diskless OS jumped here from its boot network).
dhcp() {
  [ -s "$WORK/udhcpc.pid" ] && kill "$(cat "$WORK/udhcpc.pid")" 2>/dev/null
  rm -f "$WORK/ip" "$WORK/udhcpc.pid"
  ip addr flush dev "$IFACE"
  until [ -s "$WORK/ip" ]; do
    udhcpc -i "$IFACE" -s "$WORK/udhcpc.sh" -t 5 -T 2 -A 3 -p "$WORK/udhcpc.pid" >/dev/null 2>&1 || sleep 2
  done
  read -r IP < "$WORK/ip"
}
dhcp
say "address $IP on $IFACE; reporting to $URL"

# --- talking to HIL -----------------------------------------------------------

# Under TCG every fork costs milliseconds, and a deploy's few reports are on
# its critical path: what runs often here uses shell builtins only.

# The blobs the cache holds, comma-separated (a glob: no fork).
list_cache() {
  CACHED=
  for f in "$CACHE"/*; do [ -e "$f" ] && CACHED="${CACHED:+$CACHED,}${f##*/}"; done
}

# report_body STATE ERROR: the report's key=value lines, in $body.
report_body() {
  [ -s "$WORK/ip" ] && read -r IP < "$WORK/ip" # a renewal may have changed it
  read -r UP _ < /proc/uptime
  body="agent=fpbl
state=$1
mac=$MAC
ip=$IP
boot_id=$BOOT_ID
uptime=$UP"
  if [ -n "$2" ]; then body="$body
error=$2"; fi
  # Tells HIL this agent heard "wait" (it moves the networks only then).
  if [ -n "$WAITING" ]; then body="$body
waiting=1"; fi
  # Which deploy is staged or loaded ("deploy, then wait" starts the move on it).
  if [ -n "$DEPLOY_ID" ]; then body="$body
deploy=$DEPLOY_ID"; fi
  list_cache
  if [ -n "$CACHED" ]; then body="$body
cached=$CACHED"; fi
}

# post STATE ERROR TIMEOUT: POST the report; the answer is in $REPLY and R_*.
# Returns 0 on a 2xx, 2 on a 401, 1 on anything else (the reason in $WHY).
post() {
  report_body "$1" "$2"
  rm -f "$REPLY" "$WERR"
  sent=${UP%%.*}
  if timeout "$3" wget -q -O "$REPLY" --header "Authorization: Bearer $TOKEN" --post-data "$body" "$URL/fpbl/v1/agent" 2>"$WERR"; then
    read -r UP _ < /proc/uptime
    # Held by HIL for a while (nothing to do): the next report can go at once.
    HELD=$(( ${UP%%.*} - sent >= 2 ))
    read_reply
    return 0
  fi
  WHY=$(tr '\n' ' ' < "$WERR" 2>/dev/null)
  [ -n "$WHY" ] || WHY="no answer in $3 s"
  case "$WHY" in *" 401 "*) return 2 ;; esac
  return 1
}

# read_reply: the last answer's keys as R_<key>. A key names a variable
# only if it is [a-z0-9_]; values are assigned, never evaluated.
CR=$(printf '\r')
R_KEYS=
read_reply() {
  for k in $R_KEYS; do eval "R_$k="; done
  R_KEYS=
  while IFS= read -r line || [ -n "$line" ]; do
    k=${line%%=*}
    [ "$k" = "$line" ] && continue
    case "$k" in ""|*[!a-z0-9_]*) continue ;; esac
    v=${line#*=}
    v=${v%"$CR"}
    eval "R_$k=\$v"
    R_KEYS="$R_KEYS $k"
  done < "$REPLY"
}

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
  LOADED=; DEPLOY_ID=
  rm -f "$WORK/loaded"
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

# forget KEEP: zero and delete every cached blob whose hash is not in KEEP
# (comma-separated). Zeroed first: after a kexec, the RAM it held is the
# next OS's to read, and that may be another project's.
forget() {
  for f in "$CACHE"/*; do
    [ -e "$f" ] || continue
    case ",$1," in *",${f##*/},"*) continue ;; esac
    dd if=/dev/zero of="$f" bs=65536 count=$(( ($(wc -c < "$f") + 65535) / 65536 )) conv=notrunc 2>/dev/null
    rm -f "$f"
    say "cache: forgot ${f##*/}"
  done
}

# payload NAME URL SHA: the file to load, from the cache if it holds SHA
# (checked when it was fetched), else downloaded and checked; sets $FILE.
payload() {
  want=$(echo "$3" | tr 'A-F' 'a-f')
  if [ -s "$CACHE/$want" ]; then FILE="$CACHE/$want"; say "deploy: the $1 is in the cache"; return 0; fi
  FILE="$pay/$1"
  say "deploy: downloading the $1 from $2"
  if ! fetch "$2" "$FILE"; then fail "deploy: $1 download failed: $WHY"; return 1; fi
  check_sha "$FILE" "$3" "$1"
}

do_deploy() {
  unload
  k_url=$R_kernel_url; k_sha=$R_kernel_sha256
  i_url=$R_initrd_url; i_sha=$R_initrd_sha256
  cmd=$R_cmdline
  if [ -z "$k_url" ] || [ -z "$k_sha" ] || [ -z "$i_url" ] || [ -z "$i_sha" ]; then
    fail "deploy: kernel_url, kernel_sha256, initrd_url and initrd_sha256 are all needed"; return
  fi
  forget "$R_keep"
  pay="$WORK/payload"
  rm -rf "$pay"; mkdir -p "$pay"
  if ! payload kernel "$k_url" "$k_sha"; then rm -rf "$pay"; return; fi
  kfile=$FILE
  if ! payload initrd "$i_url" "$i_sha"; then rm -rf "$pay"; return; fi
  ifile=$FILE
  case "$R_deploy_id" in *[!0-9]*) DEPLOY_ID= ;; *) DEPLOY_ID=$R_deploy_id ;; esac
  then_wait=$R_then
  # With a disk, HIL says when to jump (jump_url): the node needs nothing
  # more from the provisioning network, so the move is asked for now
  # ("staged") and runs while the kernel loads; the jump waits for the load.
  if [ "$then_wait" = wait ] && [ -n "$R_jump_url" ]; then
    STATE=staged; ERROR=
    start_waiting
    say "deploy: staged; the move can start"
    # In the background: the move it starts can cut off its answer, which says only "wait".
    report_body staged ""
    (timeout "$WAIT_T" wget -q -O /dev/null --header "Authorization: Bearer $TOKEN" --post-data "$body" "$URL/fpbl/v1/agent" 2>/dev/null &)
  fi
  say "deploy: kexec -l $(stat -c %s "$kfile") + $(stat -c %s "$ifile") bytes, cmdline: $cmd"
  # kexec_load, not kexec_file_load (-s): under TCG the kernel's own checks of the segments took twice as long.
  if ! kexec $KEXEC_FAST -l "$kfile" --initrd="$ifile" --append="$cmd" 2>"$WERR"; then
    fail "deploy: kexec -l failed: $(tr '\n' ' ' < "$WERR")"; stop_waiting; rm -rf "$pay"; return
  fi
  rm -rf "$pay" # the kernel holds its own copy now
  LOADED="kernel $k_sha"
  : > "$WORK/loaded"
  say "deploy: loaded"
  STATE=loaded; ERROR=
  # "deploy, then wait": waiting at once, which the next report says.
  [ "$then_wait" = wait ] && start_waiting
  # Told to jump while the kernel was loading: now.
  [ -e "$WORK/jump-said" ] && jump_now
}

# do_cache: forget what HIL no longer wants kept, then fetch the blob it
# names (fetch_url, fetch_sha256, fetch_size), if there is room for it.
NOROOM=
do_cache() {
  forget "$R_keep"
  url=$R_fetch_url; sha=$R_fetch_sha256; size=$R_fetch_size
  # Nothing to fetch: HIL answers at once, so a pause keeps a disagreement from spinning.
  if [ -z "$url" ] || [ -z "$sha" ]; then sleep 1; return 0; fi
  case "$sha" in *[!0-9a-f]*|"") say "cache: '$sha' is not a SHA-256"; sleep 5; return ;; esac
  if [ "$NOROOM" = "$sha" ]; then sleep 30; return; fi # said once; asked again
  avail=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
  case "$size" in ''|*[!0-9]*) size=0 ;; esac
  # Room for the blob and 64 MiB to spare, for the deploy's own work.
  if [ $((size / 1024 + 65536)) -gt "${avail:-0}" ]; then
    say "cache: no room for $sha ($size bytes, $avail kB available); not fetched"; NOROOM=$sha; return
  fi
  part="$WORK/cache.part"
  say "cache: fetching $sha ($size bytes)"
  if ! fetch "$url" "$part"; then say "cache: download failed: $WHY"; rm -f "$part"; sleep 5; return; fi
  got=$(sha256sum "$part" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then say "cache: $sha arrived with sha256 $got; dropped"; rm -f "$part"; sleep 5; return; fi
  mv "$part" "$CACHE/$sha"
  say "cache: holds $sha"
}

# --- waiting to jump ----------------------------------------------------------

# start_waiting: from the last answer ("wait", or "deploy" with then=wait),
# how to report while waiting and how to learn it is time to kexec -e.
start_waiting() {
  if [ -z "$WAITING" ]; then
    # Only plain numbers from the server; anything else keeps the defaults.
    v=$R_report_timeout; case "$v" in [1-9]|[1-9][0-9]) WAIT_T=$v ;; esac
    v=$R_failures; case "$v" in [1-9]|[1-9][0-9]) WAIT_N=$v ;; esac
    v=$R_interval; case "$v" in 0.[0-9]|0.[0-9][0-9]|[1-9]|[1-9].[0-9]) WAIT_I=$v ;; esac
    JUMP_URL=$R_jump_url; JUMP_IP=$R_jump_ip
    case "$JUMP_IP" in *[!0-9./]*) JUMP_URL= ;; esac
    if [ -n "$JUMP_URL" ] && [ -n "$JUMP_IP" ]; then
      say "wait: kexec -e when $JUMP_URL says jump, asked from $JUMP_IP every 0.1 s"
      start_prober
    else
      JUMP_URL=
      say "wait: reporting every $WAIT_I s with a $WAIT_T s timeout; kexec -e after $WAIT_N failed reports in a row"
    fi
  fi
  WAITING=1
}

# jump_now: kexec -e, once (the prober's requests may hear "jump" together).
jump_now() {
  mkdir "$WORK/jumping" 2>/dev/null || return 0
  say "the boot network says jump: the node has left the provisioning network"
  say "kexec -e now"
  kexec -e
  say "kexec -e failed"; rmdir "$WORK/jumping"
}

# The boot network's server answers "jump" once every NIC is where the
# deploy wants it; reaching it at all means this NIC has left the
# provisioning network. Asked in the background, one request at a time, so
# that the reports go on. Before the move a request waits in the kernel for
# the storage host's ARP answer; asked again every 0.1 s (not every second)
# and for 10 s (not 0.3), the ARP request is answered within a tenth of a
# second of the move, and the waiting request goes out at once: no process
# per try, which under TCG would slow the kernel's load beside it.
PROBER=
start_prober() {
  jump_nic=$(nic_of "$(echo "$JUMP_URL" | sed -n 's|.*/boot/\([0-9a-f:]*\)/deployed$|\1|p')")
  [ -n "$jump_nic" ] || jump_nic=$IFACE
  echo 100 > "/proc/sys/net/ipv4/neigh/$jump_nic/retrans_time_ms" 2>/dev/null
  echo 100 > "/proc/sys/net/ipv4/neigh/$jump_nic/mcast_solicit" 2>/dev/null
  ip addr add "$JUMP_IP" dev "$jump_nic" 2>/dev/null
  (
    while :; do
      # "jump" heard while the kernel is still loading is noted; do_deploy jumps once it is loaded.
      if timeout 12 wget -q -O - "$JUMP_URL" 2>/dev/null | grep -q '^jump'; then
        : > "$WORK/jump-said"
        [ -e "$WORK/loaded" ] && jump_now
      fi
      sleep 0.1
      # Again: a DHCP renewal on this NIC flushes its addresses.
      ip addr add "$JUMP_IP" dev "$jump_nic" 2>/dev/null
    done
  ) &
  PROBER=$!
}

stop_waiting() {
  WAITING=; FAILS=0
  [ -n "$PROBER" ] && kill "$PROBER" 2>/dev/null
  [ -n "$JUMP_URL" ] && ip addr del "$JUMP_IP" dev "$jump_nic" 2>/dev/null
  PROBER=; JUMP_URL=
  rm -f "$WORK/jump-said"
}

KEXEC_FAST=
kexec --help 2>&1 | grep -q -- '--no-checks' && KEXEC_FAST=-i

# --- the loop ------------------------------------------------------------------

HELD=0     # the last report was held by HIL (post)
LOST=0     # failed reports in a row, not waiting (10: DHCP again)
REJOIN=    # told to rejoin, not heard since (2 failed reports: DHCP again)
WAITING=   # set by "wait": short reports, and kexec -e once told to (JUMP_URL) or once HIL is out of reach
JUMP_URL=
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
      # Told to wait for the boot network's word: a failed report is the move under way.
      if [ -n "$JUMP_URL" ]; then sleep "$WAIT_I"; continue; fi
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
      LASTWHY=$WHY; LOST=$((LOST + 1))
      # Just told to rejoin, a lease from before the move is likely: ask again sooner.
      limit=10; [ -n "$REJOIN" ] && limit=2
      if [ "$LOST" -ge "$limit" ]; then
        say "no answer for 20 s: asking for an address again"; dhcp; LOST=0
        say "address $IP on $IFACE"
      fi
      sleep 2
    fi
    continue
  fi
  [ -n "$LASTWHY" ] && say "reporting again"
  LASTWHY=; FAILS=0; LOST=0; REJOIN=
  command=$R_command
  [ "$STATE" = fresh ] && STATE=idle   # "fresh" is only the first report after a boot
  case "$command" in
    none|"")
      if [ -n "$WAITING" ]; then sleep "$WAIT_I"; elif [ "$HELD" != 1 ]; then sleep 1; fi ;;
    wait)
      if [ -z "$LOADED" ]; then
        fail "wait: no kernel is loaded"; stop_waiting
      else
        start_waiting; sleep "$WAIT_I"
      fi ;;
    wipe)
      stop_waiting; say "command: wipe"; do_wipe ;;
    deploy)
      stop_waiting; say "command: deploy"; do_deploy ;;
    abort)
      stop_waiting; say "command: abort"; unload; STATE=idle; ERROR= ;;
    cache)
      stop_waiting; do_cache ;;
    rejoin)
      # Back from a diskless OS through its boot network: HIL moves the NIC
      # to the provisioning network now; follow it there, and report anew.
      stop_waiting
      if [ -n "$R_url" ] && [ "$R_url" != "$URL" ]; then
        URL=$R_url; REJOIN=1; STATE=fresh; ERROR=
        say "rejoin: the NIC moves to the provisioning network; asking for an address there, then reporting to $URL"
        dhcp; say "address $IP on $IFACE"
      else
        sleep 0.5
      fi ;;
    *)
      say "unknown command '$command'; ignored"; sleep 1 ;;
  esac
  if [ "$STATE $ERROR" != "$PRINTED" ]; then say "state=$STATE${ERROR:+ error=$ERROR}"; PRINTED="$STATE $ERROR"; fi
done
