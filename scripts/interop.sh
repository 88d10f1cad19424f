#!/usr/bin/env bash
# Interop matrix: the project's pptp-server and pptp-client against real
# peers (pptp-linux 1.10.0 + pppd 2.4.9 + Linux 6.1 MPPE, pptpd 1.4.0) in
# the lab VM of ../shared/lab (see its README).
#
#   sudo bash scripts/interop.sh            # whole matrix
#   CASES="mschapv2-mppe128" sudo bash scripts/interop.sh   # some cases
#   KEEP_LAB=1 ...                          # leave the VM running after
#
# For every server case: our pptp-server runs in the lab namespace on
# 10.0.0.1:1723 with the case's auth/MPPE configuration; pppd + pptp-linux
# in the VM dial it (`pppd call lab`); the script checks the negotiated
# method and MPPE mode on both sides, pings through the tunnel both ways
# (VM -> our TUN address, namespace -> the VM's assigned address), reads
# `pptp-server status`, hangs up (alternately from the client and with
# `pptp-server clear`), checks the server released the session and its
# address, stops the server with SIGTERM, and checks that tshark decodes
# the whole capture without malformed packets or expert errors.
# The client case: pptpd + pppd in the VM, our pptp-client in the
# namespace, MS-CHAPv2 + MPPE-128, ping both ways.
#
# One VM is booted for the whole matrix (TCG is slow); cases restart
# pppd/pptpd inside it. Every step that cannot run fails loudly.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB="${SHARED:-$ROOT/../shared}/lab"
HERE="$ROOT/scripts/interop"

die() { printf 'interop: ERROR: %s\n' "$*" >&2; exit 2; }
[ -f "$LAB/lib.sh" ] || die "lab scripts not found at $LAB (set SHARED=/path/to/shared)"
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, raw GRE socket, TUN, qemu)"
# The lab's image builder installs what a fresh machine lacks (qemu,
# tshark, pptp-linux, pptpd); idempotent, 0.1 s once done.
"$LAB/build-image.sh" >/dev/null || die "lab build-image.sh failed"
# The AAA cases run FreeRADIUS and a TACACS+ test server (PyPI
# tacacs_plus) inside the lab's namespace, which has no route to the
# package registries: install them from here, before any case needs them.
if [ -f "${SHARED:-$ROOT/../shared}/aaa/lib.sh" ]; then
  (source "${SHARED:-$ROOT/../shared}/aaa/lib.sh" && aaa_apt_install freeradius freeradius-utils) \
    || die "installing FreeRADIUS failed"
fi
python3 -c 'import tacacs_plus' 2>/dev/null || python3 -m pip install -q tacacs_plus \
  || die "installing tacacs_plus failed"
for tool in ip tshark qemu-system-x86_64 python3 cargo pptp; do
  command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# shellcheck source=/dev/null
source "$LAB/lib.sh"   # LAB_DIR, LAB_NS, LAB_RUN, lab_vm_dir, ...
VM="${INTEROP_VM:-1}"   # the VM that runs pppd/pptpd
VM_IP="$(lab_vm_ip "$VM")"
SERVER_IP="$LAB_HOST_IP"
TUN_ADDR=10.99.0.1      # our tunnel address (server cases)
POOL_FIRST=10.99.0.10; POOL_LAST=10.99.0.19

log() { printf '[interop %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- build -----------------------------------------------------------------
bins=(--bin pptp-server)
if [ -z "${CASES:-}" ] || [[ "$CASES" == *client-* ]] || [[ "$CASES" == *hostonly* ]]; then bins+=(--bin pptp-client); fi
log "building ${bins[*]} (release)"
(cd "$ROOT" && cargo build --release -q -p pptp-vpn "${bins[@]}") || die "cargo build failed"
SERVER_BIN="$ROOT/target/release/pptp-server"
CLIENT_BIN="$ROOT/target/release/pptp-client"

# ---- lab ---------------------------------------------------------------------
log "lab image (cached after the first build)"
"$LAB/build-image.sh" >/dev/null || die "lab build-image.sh failed"
t_boot=$(date +%s.%N)
"$LAB/start.sh" "$VM" >&2 || die "lab start.sh failed (VM did not boot)"
log "lab up in $(awk -v a="$(date +%s.%N)" -v b="$t_boot" 'BEGIN{printf "%.1f", a-b}') s"

RESULTS="$LAB_DIR/results/interop-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RESULTS" "$LAB_RUN/pids"
SHARE="$(lab_vm_dir "$VM")/share"
mkdir -p "$SHARE/interop"

vm() { "$LAB/vm-run.sh" -v "$VM" "$@"; }

# ---- helpers -----------------------------------------------------------------
SERVER_PIDFILE="$LAB_RUN/pids/interop-server.pid"
CLIENT_PIDFILE="$LAB_RUN/pids/interop-client.pid"
CAPTURE_PIDFILE="$LAB_RUN/pids/interop-capture.pid"

kill_pidfile() {
  local f=$1 p
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

capture_start() {  # PCAP
  ip netns exec "$LAB_NS" tshark -q -i "$LAB_BR" -f "ip proto 47 or tcp port 1723" -w "$1" > "$1.log" 2>&1 &
  echo $! > "$CAPTURE_PIDFILE"
  for _ in $(seq 1 100); do grep -q "Capturing on" "$1.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "tshark did not start: $(cat "$1.log")"; return 1
}
capture_stop() {
  [ -f "$CAPTURE_PIDFILE" ] || return 0
  local p; p=$(cat "$CAPTURE_PIDFILE"); sleep 0.5
  kill -INT "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$CAPTURE_PIDFILE"
}

# check_capture PCAP DIR: PPTP control and GRE present; nothing malformed,
# no expert error (tshark's own dissectors: PPTP, GRE, PPP, LCP, CHAP,
# PAP, IPCP, CCP).
check_capture() {
  local pcap=$1 dir=$2 n_pptp n_gre bad
  tshark -r "$pcap" > "$dir/capture.summary.txt" 2>&1 || { echo "tshark cannot read $pcap"; return 1; }
  tshark -r "$pcap" -O pptp,gre,ppp,lcp,chap,pap,ipcp,ccp -V > "$dir/capture.decode.txt" 2>&1 || true
  n_pptp=$(tshark -r "$pcap" -Y pptp 2>/dev/null | wc -l)
  n_gre=$(tshark -r "$pcap" -Y gre 2>/dev/null | wc -l)
  # 8388608 = 0x00800000, PI_ERROR (epan/proto.h); a bad filter fails loudly.
  tshark -r "$pcap" -Y '_ws.malformed || _ws.expert.severity >= 8388608' > "$dir/capture.errors.txt" 2>"$dir/capture.errors.stderr" \
    || { cat "$dir/capture.errors.stderr"; echo "tshark error filter failed"; return 1; }
  bad=$(wc -l < "$dir/capture.errors.txt")
  warn=$(tshark -r "$pcap" -Y '_ws.expert.severity == 6291456' 2>/dev/null | wc -l)
  echo "capture: $n_pptp PPTP control, $n_gre GRE, $bad malformed/expert-error, $warn expert-warning"
  [ "$n_pptp" -gt 0 ] && [ "$n_gre" -gt 0 ] && [ "$bad" -eq 0 ]
}

server_config() {  # AUTH-LIST MPPE REQUIRED MODE CONTROL-SOCKET
  cat <<TOML
listen = "$SERVER_IP:1723"
local_address = "$TUN_ADDR"
pool = { first = "$POOL_FIRST", last = "$POOL_LAST" }
dns = ["10.0.0.1"]
auth = [$1]
mppe = "$2"
mppe_required = $3
mppe_mode = "$4"
keepalive_secs = 60
max_sessions = 16
tun_name = "pptp0"
mtu = 1396
host_name = "pptp-server"
control_socket = "$5"
${AAA_TOP:-}
TOML
  [ -z "${LIMITS_SECTION:-}" ] || printf '\n%s\n' "$LIMITS_SECTION"
  # AAA cases: no local users at all, so only the AAA server can decide.
  if [ -n "${AAA_SECTION:-}" ]; then
    printf '\n%s\n' "$AAA_SECTION"
  else
    printf '\n[[users]]\nname = "labuser"\npassword = "labpass"\n'
  fi
}

wait_for() {  # SECONDS FILE PATTERN
  local end=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$end" ]; do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.2; done
  return 1
}

cleanup() {
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  kill_pidfile "$CLIENT_PIDFILE" || true
  kill_pidfile "${TACACS_PIDFILE:-/nonexistent}" || true
  radius_stop_all 2>/dev/null || true
  if [ -z "${KEEP_LAB:-}" ]; then "$LAB/stop.sh" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# ---- one server case ------------------------------------------------------
# run_server_case NAME AUTH-LIST MPPE REQUIRED MODE SERVER-AUTH-NAME
#                 EXPECT-MPPE-LOG-REGEX HANGUP(client|clear|kill) FAULT(-|loss)
#                 PEER-OPTIONS...
# The VM's pppd peer file from the template and $1/peer-options.
install_peer() {  # DIR
  sed -e "s/@SERVER@/$SERVER_IP/" -e "/@OPTIONS@/{
r $1/peer-options
d
}" "$HERE/peer.tmpl" > "$SHARE/interop/peer"
}
# pptp-server with $1/server.toml in namespace $2 (default: the lab's),
# logging to $1/server.log; waits until it listens.
start_server() {  # DIR [NETNS]
  ip netns exec "${2:-$LAB_NS}" "$SERVER_BIN" --config "$1/server.toml" > "$1/server.log" 2>&1 &
  echo $! > "$SERVER_PIDFILE"
  wait_for 10 "$1/server.log" "listening on" || { echo "server did not start:"; cat "$1/server.log"; return 1; }
}

run_server_case() {
  local name=$1 auth=$2 mppe=$3 required=$4 mode=$5 auth_name=$6 expect_mppe=$7 hangup=$8 fault=$9
  shift 9
  local dir="$RESULTS/$name" ctl sock addr
  mkdir -p "$dir"
  sock="$dir/control.sock"
  server_config "$auth" "$mppe" "$required" "$mode" "$sock" > "$dir/server.toml"
  { printf '%s\n' "$@"; } > "$dir/peer-options"
  install_peer "$dir"
  cp "$SHARE/interop/peer" "$dir/peer"
  rm -f "$SHARE/pppd-client.log"

  capture_start "$dir/session.pcap" || return 1
  start_server "$dir" || return 1

  echo "-- pppd call lab (in vm$VM)"
  vm -t 120 - > "$dir/vm-session.txt" 2>&1 <<SH || { cat "$dir/vm-session.txt"; echo "pppd did not bring the link up"; return 1; }
for p in \$(pgrep -x pppd); do kill \$p; done; sleep 0.3
cp /lab/interop/peer /etc/ppp/peers/lab
modprobe ppp_generic
t0=\$(date +%s%N)
pppd call lab updetach
echo "set-up: \$(( (\$(date +%s%N) - t0) / 1000000 )) ms (pppd start to IPCP up)"
SH
  grep 'set-up:' "$dir/vm-session.txt" || true
  addr=$(vm "ip -4 -o addr show ppp0" | sed -n 's/.* inet \([0-9.]*\) peer.*/\1/p')
  echo "VM ppp0 address: ${addr:-none}"
  [ -n "$addr" ] || return 1
  if [ -n "${EXPECT_ADDR:-}" ]; then
    # AAA cases: the server's Framed-IP-Address / addr= replaces the pool.
    [ "$addr" = "$EXPECT_ADDR" ] || { echo "address $addr, expected $EXPECT_ADDR from the AAA server"; return 1; }
  else
  python3 - "$addr" "$POOL_FIRST" "$POOL_LAST" <<'PY' || { echo "address $addr not from the pool"; return 1; }
import ipaddress, sys
a, f, l = (int(ipaddress.IPv4Address(x)) for x in sys.argv[1:])
sys.exit(0 if f <= a <= l else 1)
PY
  fi
  grep -q "$auth_name authentication of \"labuser\" succeeded" "$dir/server.log" \
    || { echo "server log lacks $auth_name success"; return 1; }
  cp "$SHARE/pppd-client.log" "$dir/pppd-client.log" 2>/dev/null || true
  if [ -n "$expect_mppe" ]; then
    grep -Eq "$expect_mppe" "$dir/pppd-client.log" || { echo "pppd log lacks /$expect_mppe/:"; grep -i mppe "$dir/pppd-client.log"; return 1; }
    echo "pppd: $(grep -Eo "$expect_mppe" "$dir/pppd-client.log" | head -1)"
  else
    if grep -Eq 'MPPE .* enabled' "$dir/pppd-client.log"; then echo "MPPE enabled but the case has none"; return 1; fi
    echo "pppd: no MPPE (as configured)"
  fi

  echo "-- ping vm$VM -> $TUN_ADDR (through the tunnel)"
  vm "ping -c 3 -W 3 $TUN_ADDR" | tee "$dir/ping-vm.txt" | tail -2
  grep -q ' 0% packet loss' "$dir/ping-vm.txt" || return 1
  echo "-- ping namespace -> $addr (through the tunnel)"
  ip netns exec "$LAB_NS" python3 "$HERE/ping.py" "$addr" 3 3 | tee "$dir/ping-ns.txt" | tail -1
  grep -q '3 packets transmitted, 3 received' "$dir/ping-ns.txt" || return 1

  if [ "$fault" = mru ]; then
    # Issue #14 item 5: a peer MRU of 1200 under one TUN MTU (1396): the
    # server fragments what is too big for this session, both ways.
    echo "-- 1,400-octet pings both ways over a peer MRU of 1200"
    vm "ping -s 1372 -c 3 -W 3 $TUN_ADDR" | tee "$dir/ping-vm-big.txt" | tail -2
    grep -q ' 0% packet loss' "$dir/ping-vm-big.txt" || { echo "1,400-octet pings from the VM failed"; return 1; }
    ip netns exec "$LAB_NS" python3 "$HERE/ping.py" "$addr" 3 3 1400 | tee "$dir/ping-ns-big.txt" | tail -1
    grep -q '3 packets transmitted, 3 received' "$dir/ping-ns-big.txt" || { echo "1,400-octet pings to the VM failed"; return 1; }
    "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-mru.txt" || return 1
    grep -E 'All sessions: IP over the peer.s MRU' "$dir/status-mru.txt"
    grep -Eq 'All sessions: IP over the peer.s MRU: [1-9][0-9]* packets fragmented' "$dir/status-mru.txt" \
      || { echo "status counts no fragmented packet"; return 1; }
  fi
  if [ "$fault" = loss ]; then
    # Loss and reordering on the VM's egress (GRE to us): stateful MPPE
    # must resynchronise through CCP Reset-Request (RFC 3078 §8) and the
    # session must stay up.
    echo "-- netem on vm$VM eth0: delay 10ms, reorder 25%, loss 10%; 40 pings"
    vm "modprobe sch_netem; tc qdisc replace dev eth0 root netem delay 10ms reorder 25% 50% loss 10%" || return 1
    vm "ping -c 40 -i 0.2 -W 2 $TUN_ADDR" > "$dir/ping-loss.txt" 2>&1 || true
    vm "tc qdisc del dev eth0 root" || return 1
    tail -2 "$dir/ping-loss.txt"
    "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-loss.txt" || return 1
    grep -E 'GRE lost|CCP resets' "$dir/status-loss.txt"
    grep -Eq 'CCP resets sent [1-9]' "$dir/status-loss.txt" || { echo "no CCP Reset-Request sent despite loss"; return 1; }
    # The first packet after the fault may still be discarded: if the
    # peer's flushed packet answering our last Reset-Request was itself
    # lost, the next one triggers a new Reset-Request (RFC 3078 §8).
    echo "-- after the fault: pings 2..5 of 5 must all come back"
    vm "ping -c 5 -W 3 $TUN_ADDR" | tee "$dir/ping-after-loss.txt" | tail -2
    for seq in 2 3 4 5; do
      grep -q "icmp_seq=$seq " "$dir/ping-after-loss.txt" || { echo "tunnel did not recover (icmp_seq=$seq lost)"; return 1; }
    done
  fi
  "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-up.txt" || { echo "status failed"; return 1; }
  grep -E "labuser +$addr" "$dir/status-up.txt" || { cat "$dir/status-up.txt"; echo "status lacks the session"; return 1; }

  if [ "$hangup" = clear ]; then
    echo "-- pptp-server clear all"
    "$SERVER_BIN" --config "$dir/server.toml" clear all
    vm -t 30 'for i in $(seq 1 100); do pgrep -x pppd >/dev/null || break; sleep 0.2; done; pgrep -a pppd && echo "pppd still running" || echo "pppd gone"' | tee "$dir/vm-hangup.txt"
    grep -q 'pppd gone' "$dir/vm-hangup.txt" || return 1
    grep -Eq 'rcvd \[LCP TermReq' "$SHARE/pppd-client.log" || { echo "pppd got no LCP Terminate-Request"; return 1; }
  elif [ "$hangup" = idle ]; then
    # No traffic from here: the server must end the session itself when
    # the RADIUS Idle-Timeout passes (RFC 2865 §5.28).
    echo "-- idle: waiting for the server to end the session (Idle-Timeout)"
    vm -t 45 'for i in $(seq 1 175); do pgrep -x pppd >/dev/null || break; sleep 0.2; done; pgrep -a pppd && echo "pppd still running" || echo "pppd gone"' | tee "$dir/vm-hangup.txt"
    grep -q 'pppd gone' "$dir/vm-hangup.txt" || return 1
    grep -E "Idle-Timeout from the AAA server reached" "$dir/server.log" || { echo "server log lacks the Idle-Timeout close"; return 1; }
    grep -Eq 'rcvd \[LCP TermReq' "$SHARE/pppd-client.log" || { echo "pppd got no LCP Terminate-Request"; return 1; }
  elif [ "$hangup" = kill ]; then
    echo "-- kill -9 pptp and pppd in the VM (no goodbyes)"
    vm 'pkill -9 -x pptp; pkill -9 -x pppd; sleep 1; pgrep -a pppd || echo "pppd gone"' | tee "$dir/vm-hangup.txt"
  else
    echo "-- hang up from the client (kill pppd)"
    vm -t 30 'for p in $(pgrep -x pppd); do kill $p; done; for i in $(seq 1 100); do pgrep -x pppd >/dev/null || break; sleep 0.2; done; pgrep -a pppd && echo "pppd still running" || echo "pppd gone"' | tee "$dir/vm-hangup.txt"
    grep -q 'pppd gone' "$dir/vm-hangup.txt" || return 1
  fi
  wait_for 10 "$dir/server.log" "tunnel 1: closed" || { echo "server did not close the tunnel"; return 1; }
  "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-down.txt"
  grep -q 'sessions=0' "$dir/status-down.txt" && grep -q 'Pool: 0 of' "$dir/status-down.txt" \
    || { cat "$dir/status-down.txt"; echo "session or address not released"; return 1; }
  echo "server released the session and its address"

  kill -TERM "$(cat "$SERVER_PIDFILE")"
  wait_for 10 "$dir/server.log" "exiting" || { echo "server did not exit on SIGTERM"; return 1; }
  kill_pidfile "$SERVER_PIDFILE"
  cp "$SHARE/pppd-client.log" "$dir/pppd-client.log" 2>/dev/null || true
  capture_stop
  if [ "$fault" = timed ]; then
    # Issue #14 item 6: against a pppd that requires MPPE (its IPCP stays
    # closed until its CCP opens) our IPCP used to wait a 3 s restart
    # timer after CCP opened. From the capture: CCP opened (its last
    # Configure-Ack) to IPCP opened (its last Configure-Ack), which the
    # emulated VM's speed does not stretch by seconds.
    local gap
    gap=$(tshark -r "$dir/session.pcap" -Y 'ccp || ipcp' -T fields -e frame.time_relative -e _ws.col.Protocol -e ppp.code 2>/dev/null \
      | awk -F'\t' '$3 == 2 && $2 ~ /CCP/ {c = $1} $3 == 2 && $2 ~ /IPCP/ {i = $1} END {if (c && i) printf "%d", (i - c) * 1000; else print "none"}')
    echo "IPCP opened ${gap} ms after CCP opened"
    [ "$gap" != none ] && [ "$gap" -lt 1000 ] || { echo "IPCP waited ${gap} ms after CCP (a restart timer)"; return 1; }
  fi
  check_capture "$dir/session.pcap" "$dir"
}

# ---- two clients at once ----------------------------------------------------
# Two pptp-linux + pppd sessions from the VM to one pptp-server: both get
# addresses, both ping through; `clear call ID` ends only one; SIGTERM on
# the server says goodbye to the other (LCP Terminate-Request, CDN,
# StopCCRQ) and the server exits.
run_concurrent_case() {
  local name=$1 dir="$RESULTS/$1" sock a0 a1
  mkdir -p "$dir"
  sock="$dir/control.sock"
  # Both pppd log in as labuser: lift the one-session-per-user default.
  LIMITS_SECTION=$'[limits]\nmax_sessions_per_user = 0' \
    server_config '"mschap-v2"' 128 true stateless "$sock" > "$dir/server.toml"
  printf '%s\n' refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128 > "$dir/peer-options"
  install_peer "$dir"
  sed 's#/lab/pppd-client.log#/lab/pppd-client2.log#' "$SHARE/interop/peer" > "$SHARE/interop/peer2"
  rm -f "$SHARE/pppd-client.log" "$SHARE/pppd-client2.log"
  capture_start "$dir/session.pcap" || return 1
  start_server "$dir" || return 1
  echo "-- two pppd sessions (in vm$VM)"
  vm -t 180 - > "$dir/vm-session.txt" 2>&1 <<'SH' || { cat "$dir/vm-session.txt"; echo "pppd did not bring both links up"; return 1; }
for p in $(pgrep -x pppd); do kill $p; done; sleep 0.3
cp /lab/interop/peer /etc/ppp/peers/lab
cp /lab/interop/peer2 /etc/ppp/peers/lab2
modprobe ppp_generic
pppd call lab updetach unit 0 && pppd call lab2 updetach unit 1
SH
  a0=$(vm "ip -4 -o addr show ppp0" | sed -n 's/.* inet \([0-9.]*\) peer.*/\1/p')
  a1=$(vm "ip -4 -o addr show ppp1" | sed -n 's/.* inet \([0-9.]*\) peer.*/\1/p')
  echo "ppp0 ${a0:-none}, ppp1 ${a1:-none}"
  [ -n "$a0" ] && [ -n "$a1" ] && [ "$a0" != "$a1" ] || { echo "two distinct addresses expected"; return 1; }
  for a in "$a0" "$a1"; do
    ip netns exec "$LAB_NS" python3 "$HERE/ping.py" "$a" 3 3 | tee -a "$dir/ping-ns.txt" | tail -1
  done
  [ "$(grep -c '3 packets transmitted, 3 received' "$dir/ping-ns.txt")" = 2 ] || return 1
  for i in 0 1; do
    vm "ping -I ppp$i -c 3 -W 3 $TUN_ADDR" | tee -a "$dir/ping-vm.txt" | tail -2 | head -1
  done
  [ "$(grep -c ' 0% packet loss' "$dir/ping-vm.txt")" = 2 ] || return 1
  "$SERVER_BIN" --config "$dir/server.toml" status | tee "$dir/status-up.txt" | head -4
  # pptp-linux multiplexes both calls over one control connection (its
  # call manager), so: one tunnel, two sessions.
  grep -q 'sessions=2' "$dir/status-up.txt" || return 1
  local cid
  cid=$(awk -v a="$a0" '$5 == a && $4 == "labuser" {print $2}' "$dir/status-up.txt")
  [ -n "$cid" ] || { echo "no call for $a0 in the status"; return 1; }
  echo "-- pptp-server clear call $cid (the session of $a0)"
  "$SERVER_BIN" --config "$dir/server.toml" clear call "$cid"
  wait_for 15 "$dir/server.log" "call $cid: session down" || { echo "call $cid not closed"; return 1; }
  sleep 1
  "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-one.txt"
  grep -q 'sessions=1)' "$dir/status-one.txt" && grep -q 'Pool: 1 of' "$dir/status-one.txt" \
    || { cat "$dir/status-one.txt"; echo "clear call did not leave exactly one session"; return 1; }
  grep -q 'rcvd \[LCP TermReq' "$SHARE/pppd-client.log" || { echo "session 1 got no LCP Terminate-Request"; return 1; }
  echo "call $cid cleared (LCP Terminate-Request, CDN); the other session is still up"
  vm "ping -c 2 -W 3 $TUN_ADDR" | grep -q ' 0% packet loss' || { echo "remaining session broken"; return 1; }
  echo "-- SIGTERM to the server"
  kill -TERM "$(cat "$SERVER_PIDFILE")"
  wait_for 15 "$dir/server.log" "all tunnels closed; exiting" || { tail "$dir/server.log"; echo "server did not exit cleanly"; return 1; }
  kill_pidfile "$SERVER_PIDFILE"
  vm -t 30 'for i in $(seq 1 100); do pgrep -x pppd >/dev/null || break; sleep 0.2; done; pgrep -a pppd && echo "pppd still running" || echo "pppd gone"' | tee "$dir/vm-hangup.txt"
  grep -q 'pppd gone' "$dir/vm-hangup.txt" || return 1
  cp "$SHARE"/pppd-client*.log "$dir/" 2>/dev/null || true
  grep -q 'rcvd \[LCP TermReq' "$dir/pppd-client2.log" || { echo "session 2 got no LCP Terminate-Request"; return 1; }
  capture_stop
  check_capture "$dir/session.pcap" "$dir" || return 1
  # pptp-linux's Stop-Control-Connection-Reply (type 4) proves our
  # Request went out: Linux TCP autocorking puts our StopCCRQ in the same
  # segment as the CDN before it, and Wireshark's PPTP dissector decodes
  # only the first message of a segment, so the Request itself is not
  # listed (it is in the bytes: server.log shows the tunnel closing).
  [ "$(tshark -r "$dir/session.pcap" -Y 'pptp.control_message_type == 4 && ip.dst == '"$SERVER_IP" 2>/dev/null | wc -l)" -ge 1 ] \
    || { echo "expected the peer's Stop-Control-Connection-Reply"; return 1; }
  echo "the tunnel ended with Stop-Control-Connection-Request/Reply"
}

# ---- host only: pptp-linux --nolaunchpppd + our PPP over HDLC ---------------
# No VM: pptp-linux (PPTP control + GRE in user space) in netns
# $LAB_NS-cli hands its PPP stream to `pptp-client --stdio` (ppp-core over
# RFC 1662 async HDLC on a socketpair, lab tools/pairrun.py); our
# pptp-server runs in $LAB_NS-srv; a veth pair joins them.
run_hostonly_case() {
  local name=$1 dir="$RESULTS/$1" SRV="$LAB_NS-srv" CLI="$LAB_NS-cli" addr pid
  local SERVER_IP=10.0.1.1
  mkdir -p "$dir"
  for ns in "$SRV" "$CLI"; do
    ip netns list | grep -qw "$ns" || ip netns add "$ns"
    ip netns exec "$ns" ip link set lo up
  done
  if ! ip netns exec "$SRV" ip link show lab-srv >/dev/null 2>&1; then
    ip netns exec "$SRV" ip link add lab-srv type veth peer name lab-cli
    ip netns exec "$SRV" ip link set lab-cli netns "$CLI"
    ip netns exec "$SRV" ip addr add 10.0.1.1/24 dev lab-srv
    ip netns exec "$CLI" ip addr add 10.0.1.2/24 dev lab-cli
  fi
  ip netns exec "$SRV" ip link set lab-srv up
  ip netns exec "$CLI" ip link set lab-cli up
  server_config '"mschap-v2"' 128 true stateless "$dir/control.sock" > "$dir/server.toml"
  ip netns exec "$SRV" tshark -q -i lab-srv -f "ip proto 47 or tcp port 1723" -w "$dir/session.pcap" > "$dir/session.pcap.log" 2>&1 &
  echo $! > "$CAPTURE_PIDFILE"
  wait_for 10 "$dir/session.pcap.log" "Capturing on" || { echo "tshark did not start"; return 1; }
  start_server "$dir" "$SRV" || return 1
  echo "-- pptp 10.0.1.1 --nolaunchpppd <-> pptp-client --stdio (MS-CHAPv2, MPPE-128)"
  ip netns exec "$CLI" python3 "$LAB/tools/pairrun.py" --syslog "$dir/pptp-syslog.log" --timeout 90 -- \
    pptp 10.0.1.1 --nolaunchpppd --nohostroute --loglevel 2 --logstring interop -- \
    "$CLIENT_BIN" --stdio --user labuser --password labpass --auth mschap-v2 --mppe 128 --mppe-required \
    --tun pptpc0 > "$dir/pairrun.out" 2> "$dir/client.log" &
  echo $! > "$CLIENT_PIDFILE"
  wait_for 60 "$dir/client.log" "data ready" || { cat "$dir/client.log"; tail "$dir/server.log"; echo "link did not come up"; return 1; }
  addr=$(sed -n 's/.*local address \([0-9.]*\).*/\1/p' "$dir/client.log" | head -1)
  echo "client address: ${addr:-none}"
  [ -n "$addr" ] || return 1
  grep -q 'MS-CHAPv2 authentication of "labuser" succeeded' "$dir/server.log" || return 1
  grep -q 'CCP up: MPPE-128' "$dir/client.log" || { echo "no MPPE-128 on the client"; return 1; }
  ip netns exec "$CLI" python3 "$HERE/ping.py" "$TUN_ADDR" 3 3 | tee "$dir/ping-cli.txt" | tail -1
  ip netns exec "$SRV" python3 "$HERE/ping.py" "$addr" 3 3 | tee "$dir/ping-srv.txt" | tail -1
  grep -q '3 packets transmitted, 3 received' "$dir/ping-cli.txt" || return 1
  grep -q '3 packets transmitted, 3 received' "$dir/ping-srv.txt" || return 1
  echo "-- SIGTERM to pptp-client --stdio (LCP Terminate; pptp-linux then clears the call)"
  pid=$(pgrep -f -- "^$CLIENT_BIN --stdio" | head -1)
  [ -n "$pid" ] && kill -TERM "$pid"
  wait_for 15 "$dir/client.log" "disconnected" || { tail "$dir/client.log"; echo "no clean disconnect"; return 1; }
  wait_for 15 "$dir/server.log" "tunnel 1: closed" || { tail "$dir/server.log"; echo "server kept the tunnel"; return 1; }
  "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-down.txt"
  grep -q 'sessions=0' "$dir/status-down.txt" && grep -q 'Pool: 0 of' "$dir/status-down.txt" || return 1
  echo "server released the session and its address"
  kill -TERM "$(cat "$SERVER_PIDFILE")"; wait_for 10 "$dir/server.log" "exiting" || return 1
  kill_pidfile "$SERVER_PIDFILE"; kill_pidfile "$CLIENT_PIDFILE"
  capture_stop
  check_capture "$dir/session.pcap" "$dir"
}

# ---- the client case -------------------------------------------------------
run_client_case() {
  local name=$1 dir="$RESULTS/$1" addr
  mkdir -p "$dir"
  rm -f "$SHARE/pppd-server.log"
  echo "-- pptpd in vm$VM (MS-CHAPv2, MPPE-128 required)"
  vm - > "$dir/vm-setup.txt" 2>&1 <<'SH' || { cat "$dir/vm-setup.txt"; return 1; }
for p in $(pgrep -x pptpd) $(pgrep -x pppd); do kill $p; done; sleep 0.5
cp /lab/conf/pptpd.conf /etc/pptpd.conf
cp /lab/conf/pptpd-options /etc/ppp/pptpd-options
install -m 600 /lab/conf/chap-secrets /etc/ppp/chap-secrets
modprobe ppp_generic
pptpd -c /etc/pptpd.conf
sleep 1; pgrep -a pptpd
SH
  capture_start "$dir/session.pcap" || return 1
  ip netns exec "$LAB_NS" "$CLIENT_BIN" --server "$VM_IP" --user labuser --password labpass \
    --auth mschap-v2 --mppe 128 --mppe-required --tun pptpc0 --retries 0 > "$dir/client.log" 2>&1 &
  echo $! > "$CLIENT_PIDFILE"
  wait_for 60 "$dir/client.log" "data ready" || { cat "$dir/client.log"; echo "client link did not come up"; return 1; }
  addr=$(sed -n 's/.*local address \([0-9.]*\).*/\1/p' "$dir/client.log" | head -1)
  echo "client address: ${addr:-none}"
  [ -n "$addr" ] || return 1
  # Our "data ready" is our IPCP opening; pptpd's pppd brings its ppp
  # interface up just after, and a ping sent in between is acknowledged
  # at the GRE level yet never answered (seen once in CI: the first of
  # three lost, our datagram and the peer's GRE ack in the capture). Wait
  # (bounded) until the VM's end holds its address.
  for _ in $(seq 1 50); do
    vm "ip -o addr show | grep -q 'inet 10.99.0.1 '" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "-- ping namespace -> 10.99.0.1 (pptpd's end, through our client)"
  ip netns exec "$LAB_NS" python3 "$HERE/ping.py" 10.99.0.1 3 3 | tee "$dir/ping-ns.txt" | tail -1
  grep -q '3 packets transmitted, 3 received' "$dir/ping-ns.txt" || return 1
  echo "-- ping vm$VM -> $addr"
  vm "ping -c 3 -W 3 $addr" | tee "$dir/ping-vm.txt" | tail -2
  grep -q ' 0% packet loss' "$dir/ping-vm.txt" || return 1
  cp "$SHARE/pppd-server.log" "$dir/" 2>/dev/null || true
  grep -Eq 'MPPE 128-bit stateless compression enabled' "$dir/pppd-server.log" \
    || { echo "pppd (server) did not enable MPPE-128"; return 1; }
  echo "-- graceful disconnect (SIGTERM to pptp-client)"
  kill -TERM "$(cat "$CLIENT_PIDFILE")"
  wait_for 15 "$dir/client.log" "disconnected" || { tail "$dir/client.log"; echo "client did not disconnect cleanly"; return 1; }
  kill_pidfile "$CLIENT_PIDFILE"
  vm 'sleep 2; pgrep -a pppd || echo "pppd gone"; pkill -x pptpd; true' | tee "$dir/vm-after.txt"
  cp "$SHARE/pppd-server.log" "$dir/" 2>/dev/null || true
  capture_stop
  check_capture "$dir/session.pcap" "$dir"
}

# ---- AAA cases: RADIUS (FreeRADIUS) and TACACS+ decide the logins ----------
# The AAA servers run inside the lab namespace on its 127.0.0.1, where our
# pptp-server (also in the namespace) reaches them; FreeRADIUS from the
# shared harness (../shared/aaa/start-freeradius.sh, state in the case's
# results directory), TACACS+ from scripts/tacacs_test_server.py (PyPI
# `tacacs_plus`). Both know the lab user labuser/labpass and assign it
# 192.0.2.10 (RADIUS Framed-IP-Address, TACACS+ authorization addr=),
# which must replace the pool. The server has no [[users]] in these cases.
AAA_SHARED="${SHARED:-$ROOT/../shared}/aaa"
AAA_RADIUS_SECRET_LAB=pptp-interop-secret
AAA_TACACS_KEY_LAB=pptp-interop-tacacs
AAA_ADDR=192.0.2.10
TACACS_PIDFILE="$LAB_RUN/pids/interop-tacacs.pid"

radius_start() {  # AAA-DIR
  [ -f "$AAA_SHARED/start-freeradius.sh" ] || { echo "AAA harness not found at $AAA_SHARED"; return 1; }
  mkdir -p "$1"
  # Our Access-Requests always carry Message-Authenticator: FreeRADIUS
  # drops any without a valid one (REQUIRE_MA=yes) and signs its replies.
  ip netns exec "$LAB_NS" env AAA_DIR="$1" AAA_USER=labuser AAA_PASS=labpass \
    AAA_RADIUS_SECRET="$AAA_RADIUS_SECRET_LAB" AAA_RADIUS_REQUIRE_MA=yes AAA_RADIUS_REPLY_MA=yes \
    bash "$AAA_SHARED/start-freeradius.sh" > "$1/start.log" 2>&1 \
    || { cat "$1/start.log"; echo "FreeRADIUS did not start in $LAB_NS"; return 1; }
  # Extra reply items for labuser (Class, and Idle-Timeout when a case
  # sets RADIUS_IDLE_TIMEOUT): the shared harness writes its users file at
  # start, so stop it, add the items, and start the same server again.
  local raddb="$1/freeradius/raddb" fr_bin
  fr_bin=$(command -v freeradius || echo /usr/sbin/freeradius)
  AAA_DIR="$1" bash "$AAA_SHARED/stop-freeradius.sh" > /dev/null 2>&1 || true
  python3 - "$raddb/users" "${RADIUS_IDLE_TIMEOUT:-}" <<'PY' || { echo "could not patch the users file"; return 1; }
import sys
path, idle = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
i = next(n for n, l in enumerate(lines) if l.startswith('"labuser"'))
extra = ['\tClass = "pptp-interop-class",']
if idle:
    extra.append("\tIdle-Timeout = %d," % int(idle))
lines[i + 1:i + 1] = extra
open(path, "w").write("\n".join(lines))
PY
  ip netns exec "$LAB_NS" setsid "$fr_bin" -X -d "$raddb" > "$1/freeradius/log/debug.log" 2>&1 < /dev/null &
  echo $! > "$1/freeradius/run/server.pid"
  wait_for 10 "$1/freeradius/log/debug.log" "Ready to process requests" \
    || { tail -20 "$1/freeradius/log/debug.log"; echo "FreeRADIUS did not restart"; return 1; }
  echo "FreeRADIUS up in $LAB_NS on 127.0.0.1:11812/11813 (labuser: Class${RADIUS_IDLE_TIMEOUT:+, Idle-Timeout $RADIUS_IDLE_TIMEOUT s})"
}
radius_stop_all() {
  # Every FreeRADIUS this run started (each case keeps its pid file in
  # $RESULTS/<case>/aaa), by recorded pid only.
  local d
  for d in "${RESULTS:-/nonexistent}"/*/aaa; do
    [ -d "$d" ] || continue
    AAA_DIR="$d" bash "$AAA_SHARED/stop-freeradius.sh" >/dev/null 2>&1 || true
  done
}
tacacs_start() {  # ACCT-LOG SERVER-LOG
  python3 -c 'import tacacs_plus' 2>/dev/null || { echo "python module tacacs_plus missing (pip install tacacs_plus)"; return 1; }
  : > "$1"
  ip netns exec "$LAB_NS" env AAA_USER=labuser AAA_PASS=labpass AAA_SHARED="$AAA_SHARED" \
    python3 "$ROOT/scripts/tacacs_test_server.py" --host 127.0.0.1 --port 10049 \
    --key "$AAA_TACACS_KEY_LAB" --acct-log "$1" > "$2" 2>&1 &
  echo $! > "$TACACS_PIDFILE"
  wait_for 10 "$2" "listening on" || { cat "$2"; echo "TACACS+ test server did not start"; return 1; }
  echo "TACACS+ test server up in $LAB_NS on 127.0.0.1:10049"
}

radius_section() {  # [AUTH-PORT]
  cat <<TOML
[radius]
servers = [{ address = "127.0.0.1:${1:-11812}", acct_port = 11813, secret = "$AAA_RADIUS_SECRET_LAB" }]
timeout_secs = 2
retries = 2
nas_identifier = "pptp-interop"
nas_ip = "$SERVER_IP"
accounting = true
interim_interval_secs = 5
TOML
}
tacacs_section() {
  cat <<TOML
[tacacs]
servers = [{ address = "127.0.0.1:10049", key = "$AAA_TACACS_KEY_LAB" }]
timeout_secs = 3
authorization = true
accounting = true
TOML
}

# The accounting records in FreeRADIUS's detail file for labuser: Start,
# Stop, input/output octets of the Stop > 0, one session id.
check_radius_detail() {  # DETAIL
  python3 - "$1" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
records = [r for r in re.split(r"\n\s*\n", text) if "Acct-Status-Type" in r]
def field(r, name):
    m = re.search(r"^\s*" + re.escape(name) + r" = (.*)$", r, re.M)
    return m.group(1).strip().strip('"') if m else None
mine = [r for r in records if field(r, "User-Name") == "labuser"]
kinds = [field(r, "Acct-Status-Type") for r in mine]
print("detail: labuser records:", kinds)
starts = [r for r in mine if field(r, "Acct-Status-Type") == "Start"]
stops = [r for r in mine if field(r, "Acct-Status-Type") == "Stop"]
if not starts or not stops:
    sys.exit("accounting Start and Stop expected")
stop = stops[-1]
ins, outs = int(field(stop, "Acct-Input-Octets") or 0), int(field(stop, "Acct-Output-Octets") or 0)
pin, pout = int(field(stop, "Acct-Input-Packets") or 0), int(field(stop, "Acct-Output-Packets") or 0)
sid = field(stop, "Acct-Session-Id")
print("Stop: Acct-Session-Id %s, input %d octets / %d packets, output %d octets / %d packets, "
      "Gigawords %s/%s, Acct-Terminate-Cause %s, Acct-Session-Time %s, Framed-IP-Address %s"
      % (sid, ins, pin, outs, pout, field(stop, "Acct-Input-Gigawords"), field(stop, "Acct-Output-Gigawords"),
         field(stop, "Acct-Terminate-Cause"), field(stop, "Acct-Session-Time"), field(stop, "Framed-IP-Address")))
if ins <= 0 or outs <= 0 or pin <= 0 or pout <= 0:
    sys.exit("Stop must carry nonzero octets and packets")
if field(starts[-1], "Acct-Session-Id") != sid:
    sys.exit("Start and Stop have different Acct-Session-Id")
if field(stop, "Acct-Terminate-Cause") is None or field(stop, "Acct-Input-Gigawords") is None:
    sys.exit("Stop lacks Acct-Terminate-Cause or Acct-Input-Gigawords")
# The client hung up (pppd killed: LCP Terminate, then pptp-linux's
# Call-Clear-Request): RFC 2866 §5.10 User-Request; or the case's own.
cause = os.environ.get("EXPECT_CAUSE", "User-Request")
if field(stop, "Acct-Terminate-Cause") != cause:
    sys.exit("Acct-Terminate-Cause should be " + cause)
# RFC 2865 §5.25: the Accept's Class comes back unmodified in accounting.
want_class = "0x" + b"pptp-interop-class".hex()
for r in (starts[-1], stop):
    if field(r, "Class") != want_class:
        sys.exit("Class not echoed (got %r, want %s)" % (field(r, "Class"), want_class))
print("Class echoed in Start and Stop:", want_class)
if field(stop, "Framed-IP-Address") != "192.0.2.10":
    sys.exit("Stop lacks Framed-IP-Address 192.0.2.10")
PY
}

# run_aaa_case NAME radius|tacacs AUTH-LIST MPPE REQUIRED AUTH-NAME
#              EXPECT-MPPE-LOG KEY-ATTRIBUTE PEER-OPTIONS...
run_aaa_case() {
  local name=$1 kind=$2 auth=$3 mppe=$4 required=$5 auth_name=$6 expect=$7 keyattr=$8
  shift 8
  local dir="$RESULTS/$name" rc=0
  mkdir -p "$dir"
  if [ "$kind" = radius ]; then
    radius_start "$dir/aaa" || return 1
    AAA_TOP='aaa = "radius"' AAA_SECTION="$(radius_section)" EXPECT_ADDR=$AAA_ADDR \
      run_server_case "$name" "$auth" "$mppe" "$required" stateless "$auth_name" "$expect" "${AAA_HANGUP:-client}" - "$@" || rc=1
    radius_stop_all
    cp "$dir/aaa/freeradius/log/radacct/detail" "$dir/radius-detail.txt" 2>/dev/null || true
    [ "$rc" = 0 ] || return 1
    grep -E "MPPE keys from RADIUS \($keyattr\)" "$dir/server.log" \
      || { echo "server log lacks 'MPPE keys from RADIUS ($keyattr)'"; return 1; }
    grep -E "Framed-IP-Address $AAA_ADDR from RADIUS" "$dir/server.log" || return 1
    grep -E "^AAA: radius" "$dir/status-up.txt" || { echo "status lacks the AAA method"; return 1; }
    grep -E "accounting Stop acknowledged" "$dir/server.log" || { echo "no acknowledged accounting Stop"; return 1; }
    [ -s "$dir/radius-detail.txt" ] || { echo "FreeRADIUS wrote no detail file"; return 1; }
    check_radius_detail "$dir/radius-detail.txt" || return 1
    if [[ " $* " == *" usepeerdns "* ]]; then
      # MS-Primary-DNS-Server 192.0.2.53 from the Accept, through IPCP
      # (RFC 1877) to pppd.
      grep -E "primary +DNS address 192\.0\.2\.53" "$dir/pppd-client.log" \
        || { echo "pppd did not get the DNS server from RADIUS"; return 1; }
    fi
  else
    tacacs_start "$dir/tacacs-acct.jsonl" "$dir/tacacs-server.log" || return 1
    AAA_TOP='aaa = "tacacs"' AAA_SECTION="$(tacacs_section)" EXPECT_ADDR=$AAA_ADDR \
      run_server_case "$name" "$auth" "$mppe" "$required" stateless "$auth_name" "$expect" client - "$@" || rc=1
    kill_pidfile "$TACACS_PIDFILE"
    [ "$rc" = 0 ] || return 1
    grep -E "TACACS\+ cannot carry MPPE keys" "$dir/server.log" | head -1 || { echo "no unencrypted warning at start"; return 1; }
    grep -E "TACACS\+ sent no MPPE keys: this session runs unencrypted" "$dir/server.log" || return 1
    grep -E "TACACS\+ authorization passed \(addr $AAA_ADDR[,)]" "$dir/server.log" || return 1
    grep -E "^AAA: tacacs" "$dir/status-up.txt" || { echo "status lacks the AAA method"; return 1; }
    if grep -q 'CONFORMANCE FAILURE' "$dir/tacacs-server.log"; then
      grep 'CONFORMANCE FAILURE' "$dir/tacacs-server.log"; echo "TACACS+ packets differ from tacacs_plus's encoding"; return 1
    fi
    python3 - "$dir/tacacs-acct.jsonl" <<'PY' || return 1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in recs if r["user"] == "labuser"]
# RFC 8907 §7.1 flags: START 0x02, STOP 0x04, WATCHDOG 0x08.
start = [r for r in mine if r["flags"] & 0x02]
stop = [r for r in mine if r["flags"] & 0x04]
print("TACACS+ accounting records:", [hex(r["flags"]) for r in mine])
if not start or not stop:
    sys.exit("START and STOP expected")
a = stop[-1]["args"]
print("STOP:", a)
if int(a.get("bytes_in", 0)) <= 0 or int(a.get("bytes_out", 0)) <= 0:
    sys.exit("STOP must carry nonzero bytes_in/bytes_out")
if a.get("task_id") != start[-1]["args"].get("task_id"):
    sys.exit("START and STOP task_id differ")
PY
  fi
}

# Logins the AAA side must refuse (error 691), nothing staying allocated:
# - missing-keys: RADIUS accepts a PAP login (no MPPE keys) while MPPE-128
#   is required: the PIX's "missing MPPE key from aaa server" (syslog
#   403110).
# - timeout: no RADIUS server answers (nothing listens on the port): after
#   every retransmission the login is refused and the timeout logged.
run_refused_case() {  # NAME missing-keys|timeout
  local name=$1 mode=$2 dir="$RESULTS/$1" rc
  mkdir -p "$dir"
  if [ "$mode" = missing-keys ]; then
    radius_start "$dir/aaa" || return 1
    AAA_TOP='aaa = "radius"' AAA_SECTION="$(radius_section)" \
      server_config '"mschap-v2", "pap"' 128 true stateless "$dir/control.sock" > "$dir/server.toml"
    printf '%s\n' refuse-eap refuse-chap refuse-mschap refuse-mschap-v2 > "$dir/peer-options"
  else
    AAA_TOP='aaa = "radius"' AAA_SECTION="$(radius_section 11899)" \
      server_config '"mschap-v2"' 128 true stateless "$dir/control.sock" > "$dir/server.toml"
    printf '%s\n' refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128 > "$dir/peer-options"
  fi
  install_peer "$dir"
  cp "$SHARE/interop/peer" "$dir/peer"
  rm -f "$SHARE/pppd-client.log"
  capture_start "$dir/session.pcap" || return 1
  start_server "$dir" || return 1
  echo "-- pppd call lab ($mode)"
  vm -t 120 - > "$dir/vm-session.txt" 2>&1 <<SH || true
for p in \$(pgrep -x pppd); do kill \$p; done; sleep 0.3
cp /lab/interop/peer /etc/ppp/peers/lab
modprobe ppp_generic
pppd call lab updetach; echo "pppd exit status \$?"
SH
  cat "$dir/vm-session.txt" | tail -3
  cp "$SHARE/pppd-client.log" "$dir/pppd-client.log" 2>/dev/null || true
  rc=$(sed -n 's/^pppd exit status \([0-9]*\).*/\1/p' "$dir/vm-session.txt" | tail -1)
  [ -n "$rc" ] || { echo "pppd did not run"; return 1; }
  [ "$rc" != 0 ] || { echo "pppd connected although the AAA server sent no MPPE keys"; return 1; }
  echo "pppd refused (exit status $rc)"
  if [ "$mode" = missing-keys ]; then
    grep -E 'rcvd \[PAP AuthNak.*missing MPPE key from aaa server' "$dir/pppd-client.log" \
      || { grep PAP "$dir/pppd-client.log"; echo "pppd did not get the PAP Nak with the reason"; return 1; }
    grep -E '%PIX-3-403110 user "labuser" missing MPPE key from aaa server' "$dir/server.log" \
      || { echo "server log lacks the PIX reason"; return 1; }
  else
    grep -E 'rcvd \[CHAP Failure.*E=691' "$dir/pppd-client.log" \
      || { grep CHAP "$dir/pppd-client.log"; echo "pppd did not get MS-CHAP Failure E=691"; return 1; }
    grep -E 'RADIUS Access-Request no answer from 1 server\(s\) after every retransmission: AAA authentication failed, rejecting \(691\)' "$dir/server.log" \
      || { echo "server log lacks the AAA timeout"; return 1; }
  fi
  grep -E 'AAA authentication failed .*error 691' "$dir/server.log" || return 1
  wait_for 15 "$dir/server.log" "tunnel 1: closed" || { echo "server kept the tunnel"; return 1; }
  "$SERVER_BIN" --config "$dir/server.toml" status > "$dir/status-down.txt" || return 1
  grep -q 'sessions=0' "$dir/status-down.txt" && grep -q 'Pool: 0 of' "$dir/status-down.txt" \
    && { [ "$mode" = timeout ] || grep -q 'missing MPPE key 1' "$dir/status-down.txt"; } \
    && { [ "$mode" = missing-keys ] || grep -q 'timed out 1' "$dir/status-down.txt"; } \
    || { cat "$dir/status-down.txt"; echo "status after the refusal is wrong"; return 1; }
  echo "status: $(grep 'AAA logins' "$dir/status-down.txt")"
  kill -TERM "$(cat "$SERVER_PIDFILE")"
  wait_for 10 "$dir/server.log" "exiting" || { echo "server did not exit on SIGTERM"; return 1; }
  kill_pidfile "$SERVER_PIDFILE"
  radius_stop_all
  capture_stop
  check_capture "$dir/session.pcap" "$dir"
}

# ---- the matrix -------------------------------------------------------------
# name | server auth list | mppe | required | mode | auth in server log |
# pppd's MPPE line | hang-up | fault | pppd options
ALL_CASES=(
  "mschapv2-mppe128|\"mschap-v2\"|128|true|stateless|MS-CHAPv2|MPPE 128-bit stateless compression enabled|client|-|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128"
  "mschapv2-mppe40|\"mschap-v2\"|40|true|stateless|MS-CHAPv2|MPPE 40-bit stateless compression enabled|clear|-|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-40"
  "mschapv2-mppe128-stateful|\"mschap-v2\"|128|true|stateful|MS-CHAPv2|MPPE 128-bit stateful compression enabled|client|-|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128 mppe-stateful"
  "mschapv2-mppe40-stateful|\"mschap-v2\"|40|true|stateful|MS-CHAPv2|MPPE 40-bit stateful compression enabled|clear|-|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-40 mppe-stateful"
  "mschapv2-nomppe|\"mschap-v2\"|none|false|stateless|MS-CHAPv2||client|-|refuse-pap refuse-eap refuse-chap refuse-mschap nomppe"
  "mschapv1-mppe128|\"mschap\"|128|true|stateless|MS-CHAPv1|MPPE 128-bit stateless compression enabled|clear|-|refuse-pap refuse-eap refuse-chap refuse-mschap-v2 require-mppe-128"
  "mschapv1-mppe128-stateful|\"mschap\"|128|true|stateful|MS-CHAPv1|MPPE 128-bit stateful compression enabled|client|-|refuse-pap refuse-eap refuse-chap refuse-mschap-v2 require-mppe-128 mppe-stateful"
  "mschapv1-nomppe|\"mschap\"|none|false|stateless|MS-CHAPv1||clear|-|refuse-pap refuse-eap refuse-chap refuse-mschap-v2 nomppe"
  "chapmd5|\"chap\"|none|false|stateless|CHAP-MD5||client|-|refuse-pap refuse-eap refuse-mschap refuse-mschap-v2"
  "pap|\"pap\"|none|false|stateless|PAP||clear|-|refuse-eap refuse-chap refuse-mschap refuse-mschap-v2"
  "auto-server|\"mschap-v2\", \"mschap\", \"chap\", \"pap\"|auto|false|prefer-stateless|MS-CHAPv2|MPPE 128-bit stateless compression enabled|client|-|require-mppe-128"
  "mschapv2-mppe128-stateful-loss|\"mschap-v2\"|128|true|stateful|MS-CHAPv2|MPPE 128-bit stateful compression enabled|client|loss|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128 mppe-stateful"
  "mschapv2-mppe40-mru1200|\"mschap-v2\"|40|true|stateless|MS-CHAPv2|MPPE 40-bit stateless compression enabled|client|mru|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-40 mru 1200"
  "mschapv2-mppe128-required-setup-time|\"mschap-v2\"|128|true|stateless|MS-CHAPv2|MPPE 128-bit stateless compression enabled|client|timed|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128"
  "kill-client|\"mschap-v2\"|128|true|stateless|MS-CHAPv2|MPPE 128-bit stateless compression enabled|kill|-|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128"
)
CLIENT_CASES=("client-mschapv2-mppe128")
# name | radius/tacacs | server auth list | mppe | required | auth in server
# log | pppd's MPPE line | MPPE key attribute in the server log | pppd options
AAA_CASES=(
  "radius-mschapv2-mppe128-required|radius|\"mschap-v2\"|128|true|MS-CHAPv2|MPPE 128-bit stateless compression enabled|MS-MPPE-Send-Key/Recv-Key|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128 usepeerdns"
  "radius-mschapv1-mppe128-required|radius|\"mschap\"|128|true|MS-CHAPv1|MPPE 128-bit stateless compression enabled|MS-CHAP-MPPE-Keys|refuse-pap refuse-eap refuse-chap refuse-mschap-v2 require-mppe-128"
  "tacacs-mschapv2-auto|tacacs|\"mschap-v2\"|auto|false|MS-CHAPv2||-|refuse-pap refuse-eap refuse-chap refuse-mschap"
  # The Accept carries Idle-Timeout 8 s: after the pings the server ends
  # the session itself; the accounting Stop says Idle-Timeout.
  "radius-idle-timeout|radius|\"mschap-v2\"|128|true|MS-CHAPv2|MPPE 128-bit stateless compression enabled|MS-MPPE-Send-Key/Recv-Key|refuse-pap refuse-eap refuse-chap refuse-mschap require-mppe-128"
)
NOT_RUN="mschapv1-mppe40: pppd 2.4.9 itself refuses it (\"Disabling 40-bit MPPE; MS-CHAP LM not supported\", lab README)"

passed=(); failed=()
# EXCLUDE_CASES names cases left out of this run; they are listed at the
# end, never skipped silently.
want() {
  if [[ " ${EXCLUDE_CASES:-} " == *" $1 "* ]]; then return 1; fi
  [ -z "${CASES:-}" ] || [[ " $CASES " == *" $1 "* ]]
}
for spec in "${ALL_CASES[@]}"; do
  IFS='|' read -r name auth mppe required mode auth_name expect hangup fault opts <<< "$spec"
  want "$name" || continue
  log "case $name"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  if run_server_case "$name" "$auth" "$mppe" "$required" "$mode" "$auth_name" "$expect" "$hangup" "$fault" $opts 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  vm 'for p in $(pgrep -x pppd); do kill $p; done; true' >/dev/null 2>&1 || true
  sleep 1
done
for name in concurrent-two-clients; do
  want "$name" || continue
  log "case $name"
  t0=$(date +%s.%N)
  if run_concurrent_case "$name" 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  vm 'for p in $(pgrep -x pppd); do kill $p; done; true' >/dev/null 2>&1 || true
  sleep 1
done
for name in hostonly-stdio; do
  want "$name" || continue
  log "case $name"
  t0=$(date +%s.%N)
  if run_hostonly_case "$name" 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  kill_pidfile "$CLIENT_PIDFILE" || true
done
for name in "${CLIENT_CASES[@]}"; do
  want "$name" || continue
  log "case $name"
  t0=$(date +%s.%N)
  if run_client_case "$name" 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$CLIENT_PIDFILE" || true
done

for spec in "${AAA_CASES[@]}"; do
  IFS='|' read -r name kind auth mppe required auth_name expect keyattr opts <<< "$spec"
  want "$name" || continue
  case "$name" in
    radius-idle-timeout) export RADIUS_IDLE_TIMEOUT=8 AAA_HANGUP=idle EXPECT_CAUSE=Idle-Timeout ;;
    *) unset RADIUS_IDLE_TIMEOUT AAA_HANGUP EXPECT_CAUSE ;;
  esac
  log "case $name"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  if run_aaa_case "$name" "$kind" "$auth" "$mppe" "$required" "$auth_name" "$expect" "$keyattr" $opts 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  kill_pidfile "$TACACS_PIDFILE" || true
  radius_stop_all
  vm 'for p in $(pgrep -x pppd); do kill $p; done; true' >/dev/null 2>&1 || true
  sleep 1
done
unset RADIUS_IDLE_TIMEOUT AAA_HANGUP EXPECT_CAUSE
for spec in radius-missing-keys-required:missing-keys radius-timeout:timeout; do
  name=${spec%%:*}
  want "$name" || continue
  log "case $name"
  t0=$(date +%s.%N)
  if run_refused_case "$name" "${spec#*:}" 2>&1 | tee "$RESULTS/$name.txt"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
  else
    failed+=("$name ($(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a-b}') s)")
    log "case $name FAILED; logs in $RESULTS/$name"
  fi
  capture_stop || true
  kill_pidfile "$SERVER_PIDFILE" || true
  radius_stop_all
  vm 'for p in $(pgrep -x pppd); do kill $p; done; true' >/dev/null 2>&1 || true
  sleep 1
done

echo
echo "interop results ($RESULTS):"
for p in "${passed[@]}"; do echo "  PASS $p"; done
for f in "${failed[@]}"; do echo "  FAIL $f"; done
[ -n "${CASES:-}" ] || echo "  not run: $NOT_RUN"
[ -z "${EXCLUDE_CASES:-}" ] || echo "  EXCLUDED from this run (EXCLUDE_CASES): $EXCLUDE_CASES"
echo "${#passed[@]} passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ] && [ "${#passed[@]}" -gt 0 ]
