#!/usr/bin/env bash
# Data-plane throughput of pptp-server (issue #15 item 1):
#
#   sudo bash scripts/throughput.sh                      # full run (about 3 min 40 s after the build)
#   SHORT=1 sudo bash scripts/throughput.sh              # CI (1 min 19 s after the build)
#   SHORT=1 FAIL_ON_DROPS=1 sudo bash scripts/throughput.sh   # CI, strict on drops
#
# Two network namespaces created here (pptptput-srv, pptptput-cli) joined
# by a veth pair (10.0.4.1 <-> 10.0.4.2): raw GRE sockets on one host see
# each other's packets, so server and clients must not share a stack (as
# scripts/scale.sh). No traffic leaves them. For each MPPE setting in
# MODES (none, 128 stateless, 128 stateful; the server requires it):
#   (a) one pptp-client session (its own TUN) and iperf3 through it:
#       TCP up (client -> server) and down (-R), UDP up and down at full
#       speed (-b 0), and UDP up at NOLOSS_RATE, a rate far below what the
#       path carries: the "no-loss run";
#   (b) pptp-load with N sessions and, on all of them at once, a bounded
#       ICMP Echo flood (FLOOD_RATE requests/s in all, FLOOD_SIZE octets)
#       to the server's tunnel address, answered by the server's kernel:
#       both directions through the server on every session. pptp-load
#       has no TUN, so this part is ICMP, not TCP/UDP. The same flood runs
#       first on one session: the "aggregate" line gives N sessions'
#       Echo traffic as a share of one session's.
# Measured in the same run, the three ceilings every figure is a ratio of:
#   * plain veth TCP: iperf3 between the namespaces, no tunnel;
#   * the raw GRE path: `pptp-tool gre-rate`, PPTP data packets of a
#     tunnel's size (GRE payload MTU + 2) sent from the client namespace to
#     the server's as fast as the kernel takes them, in the hosts'
#     sendmmsg/recvmmsg batches, with no PPP, MPPE or TUN, from one sending
#     thread (one session's sender) and from one per core (the host): what
#     the GRE hop carries at best (Linux has no segmentation or coalescing for
#     PPTP's GRE version 1, so it is one trip through the stack per
#     datagram, where veth TCP makes one per 64 KiB);
#   * the in-process MPPE cipher: encrypt + decrypt of 1400 octets on one
#     core (`cargo bench -p benches --bench endpoint_path -- --ceiling`,
#     the bench's CEILING lines), per MPPE mode.
# Per test it prints Gb/s (iperf3's receiver; for the flood, the octets
# the server's TUN received and the replies pptp-load received), packets/s
# (delivered to the receiving end's TUN device), TCP
# retransmissions, datagrams lost end to end (iperf3 UDP; flood: requests
# without a reply), every drop counter of `pptp-server status` (GRE lost,
# out-of-order, stale, duplicate, window-full, ack time-outs, PPP drops
# mppe/malformed, MPPE receive lost, the endpoint's window and no-engine
# drops and dropped events, the GRE send batch's drops) plus the
# kernel's in both namespaces (TUN and veth device drops, their qdiscs'
# drops, raw-socket drops, UDP
# receive-buffer errors) and the host's softnet backlog drops, and
# server and client CPU-seconds per GB (utime + stime of pptp-server and
# of pptp-client / pptp-load; for the flood, over both directions'
# octets, on its "up" row). A table, then one `FIGURES key=value ...`
# line per test. The flood's `load_behind` (requests pptp-load had no
# time to send at the rate asked: its own CPU) is shown, not summed as a
# drop.
#
# Exit status: 2 on a failed step, 1 when a test moved zero data or (with
# FAIL_ON_DROPS=1) when a no-loss run lost a datagram or counted a drop.
# The drop check is a flag because today's data path does drop: CI can
# turn it on once the data path is fixed.
#
# Bounded: every step runs under `timeout`, and after the build the whole
# run has LIMIT seconds (SHORT: 170, else 600). Env: MODES ("none
# stateless stateful"), SECS per iperf3 test (SHORT 2, else 10), N
# (SHORT 20, else 100), FLOOD_RATE (20000), FLOOD_SIZE (1368), NOLOSS_RATE
# (SHORT 5M, else 20M, iperf3 -b), SERVER_BIN/CLIENT_BIN/LOAD_BIN/TOOL_BIN/
# BENCH_BIN (skip the build and use these; BENCH_BIN is the endpoint_path
# bench executable), KEEP=1 (keep the logs directory), CLIENT_WINDOW (the
# receive window pptp-client offers, e.g. 3 as pptp-linux; default the
# library's), HONOUR_PEER_WINDOW (true/false: the server's
# honour_peer_window; default unset, the server's default), WORKERS (the
# server's `workers`; default unset, one), TUN_OFFLOAD (true/false: the
# server's `tun_offload` and pptp-client's `--no-tun-offload`; default
# unset, on). Needs iperf3 (installed
# from Debian if missing) and python3 (to read iperf3's JSON).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHORT="${SHORT:-0}"
if [ "$SHORT" = 1 ]; then
  SECS="${SECS:-2}"; N="${N:-20}"; NOLOSS_RATE="${NOLOSS_RATE:-5M}"; LIMIT="${LIMIT:-170}"
else
  SECS="${SECS:-10}"; N="${N:-100}"; NOLOSS_RATE="${NOLOSS_RATE:-20M}"; LIMIT="${LIMIT:-600}"
fi
MODES="${MODES:-none stateless stateful}"
FLOOD_RATE="${FLOOD_RATE:-20000}"
FLOOD_SIZE="${FLOOD_SIZE:-1368}"
FAIL_ON_DROPS="${FAIL_ON_DROPS:-0}"
NS_SRV=pptptput-srv
NS_CLI=pptptput-cli
VETH_SRV=tput-s
VETH_CLI=tput-c
SRV_IP=10.0.4.1
CLI_IP=10.0.4.2
TUN_SRV=ptput0
TUN_CLI=ptputc0
TUN_ADDR=10.204.0.1
POOL_FIRST=10.204.1.1
MTU=1396
UDP_LEN=$(( MTU - 28 ))   # one datagram per tunnel packet, no fragments
USER_NAME=tput
PASSWORD=tput-pass

log() { printf '[throughput %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'throughput: ERROR: %s\n' "$*" >&2; exit 2; }
# shellcheck source=lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, raw GRE sockets, TUN)"
command -v ip >/dev/null || die "missing tool: ip"
command -v python3 >/dev/null || die "missing tool: python3 (reads iperf3's JSON)"
if ! command -v iperf3 >/dev/null; then
  log "installing iperf3 (Debian)"
  timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq iperf3 >/dev/null \
    || die "could not install iperf3"
fi
for m in $MODES; do
  case "$m" in none|stateless|stateful) ;; *) die "MODES: $m is not none, stateless or stateful" ;; esac
done

if [ -z "${SERVER_BIN:-}" ] || [ -z "${CLIENT_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ] || [ -z "${TOOL_BIN:-}" ]; then
  log "building pptp-server, pptp-client, pptp-load and pptp-tool (release)"
  (cd "$ROOT" && timeout 1800 cargo build --release -q -p pptp-vpn --bin pptp-server --bin pptp-client \
    --bin pptp-load --bin pptp-tool) || die "cargo build failed"
fi
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/pptp-server}"
CLIENT_BIN="${CLIENT_BIN:-$ROOT/target/release/pptp-client}"
LOAD_BIN="${LOAD_BIN:-$ROOT/target/release/pptp-load}"
TOOL_BIN="${TOOL_BIN:-$ROOT/target/release/pptp-tool}"
if [ -z "${BENCH_BIN:-}" ]; then
  log "building the endpoint_path bench (the in-process cipher ceiling)"
  BENCH_BIN=$(cd "$ROOT" && timeout 1800 cargo bench -q -p benches --bench endpoint_path --no-run \
    --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "endpoint_path":
        print(m["executable"])') || die "cargo bench --no-run failed"
fi
for b in "$SERVER_BIN" "$CLIENT_BIN" "$LOAD_BIN" "$TOOL_BIN" "$BENCH_BIN"; do
  [ -x "$b" ] || die "binary missing: $b"
done

WORK="$(mktemp -d /tmp/pptp-throughput.XXXXXX)"
SERVER_PID=""
CLIENT_PID=""
LOAD_PID=""
IPERF_PID=""
GRE_RX_PID=""
WATCHDOG_PID=""
NS_CREATED=0

cleanup() {
  local rc=$?
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
  stop_pid "$CLIENT_PID"
  stop_pid "$LOAD_PID" 10
  stop_pid "$SERVER_PID" 10
  stop_pid "$IPERF_PID"
  stop_pid "$GRE_RX_PID"
  if [ "$NS_CREATED" = 1 ]; then  # only this run's namespaces
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "time limit of $LIMIT s reached"; exit 124' TERM
start_watchdog "$LIMIT"

# ---- helpers ------------------------------------------------------------------
cpu_ticks() { awk '{printf "%.0f\n", $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
dev_stat() {  # NS DEV COUNTER, summed over DEV and DEV-1, DEV-2, ... (the
  # TUN devices of pptp-server's other workers, `workers` > 1)
  ip netns exec "$1" sh -c 'cat /sys/class/net/"$1"/statistics/"$2" /sys/class/net/"$1"-*/statistics/"$2" 2>/dev/null; true' \
    _ "$2" "$3" | awk '{t += $1} END {printf "%.0f\n", t}'
}
raw_drops() {  # NS: drops of every raw socket (last column of /proc/net/raw)
  ip netns exec "$1" awk 'NR > 1 {d += $NF} END {printf "%.0f\n", d}' /proc/net/raw
}
qdisc_drops() {  # NS DEV: packets the device's queueing discipline dropped (DEV and DEV-*)
  local d
  for d in $(ip netns exec "$1" ls /sys/class/net | grep -E "^$2(-[0-9]+)?\$" || true); do
    ip netns exec "$1" tc -s qdisc show dev "$d" 2>/dev/null
  done | awk '{for (i = 1; i < NF; i++) if ($i == "(dropped") {v = $(i + 1); sub(/,/, "", v); d += v}} END {printf "%.0f\n", d}'
}
softnet_dropped() {  # second column of /proc/net/softnet_stat, hexadecimal, summed over CPUs
  local _p d _r t=0
  while read -r _p d _r; do t=$(( t + 16#$d )); done < /proc/net/softnet_stat
  echo "$t"
}
udp_rcvbuf_errors() {  # NS: UDP datagrams dropped at a full socket buffer (iperf3's)
  ip netns exec "$1" awk '/^Udp:/ {n++; if (n == 1) for (i = 1; i <= NF; i++) c[$i] = i; else print $c["RcvbufErrors"]}' /proc/net/snmp
}
status() { timeout 5 ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" status; }

# Every drop counter `pptp-server status` shows, summed over the sessions
# it lists, and the kernel's drops on both sides: `name=value ...`.
drops_snapshot() {
  status 2>/dev/null | awk '
    /GRE lost/ {
      for (i = 1; i <= NF; i++) {
        w = $i; v = $(i + 1); sub(/;$/, "", v)
        if (w == "lost" && $(i - 1) == "GRE") gre_lost += v
        if (w == "out-of-order") out_of_order += v
        if (w == "stale") stale += v
        if (w == "duplicate") duplicate += v
        if (w == "window-full") window_full += v
        if (w == "ack-timeouts") ack_timeouts += v
        if (w == "mppe" && $(i - 1) == "drops") ppp_drops_mppe += v
        if (w == "malformed" && $(i - 3) == "drops") ppp_drops_malformed += v
      }
    }
    /MPPE receive:/ { v = $NF; mppe_lost += v }
    /^Endpoint:/ {
      if (match($0, /full GRE window [0-9]+/)) { s = substr($0, RSTART, RLENGTH); n = split(s, a, " "); window_drops += a[n] }
      if (match($0, /free machine [0-9]+/)) { s = substr($0, RSTART, RLENGTH); n = split(s, a, " "); no_engine_drops += a[n] }
      if (match($0, /events dropped [0-9]+/)) { s = substr($0, RSTART, RLENGTH); n = split(s, a, " "); events_dropped += a[n] }
    }
    # The GRE send batch (sendmmsg): datagrams dropped while the socket
    # blocked with the batch full, or refused by the kernel. Absent from
    # servers before the batch: 0.
    /^GRE send:/ {
      if (match($0, /queue-full [0-9]+/)) { s = substr($0, RSTART, RLENGTH); n = split(s, a, " "); gre_send_full += a[n] }
      if (match($0, /error [0-9]+/)) { s = substr($0, RSTART, RLENGTH); n = split(s, a, " "); gre_send_error += a[n] }
    }
    END {
      printf "gre_lost=%.0f gre_out_of_order=%.0f gre_stale=%.0f gre_duplicate=%.0f gre_window_full=%.0f gre_ack_timeouts=%.0f ", \
        gre_lost, out_of_order, stale, duplicate, window_full, ack_timeouts
      printf "ppp_drops_mppe=%.0f ppp_drops_malformed=%.0f mppe_receive_lost=%.0f ", ppp_drops_mppe, ppp_drops_malformed, mppe_lost
      printf "endpoint_window_drops=%.0f endpoint_no_engine_drops=%.0f endpoint_events_dropped=%.0f ", \
        window_drops, no_engine_drops, events_dropped
      printf "gre_send_dropped_full=%.0f gre_send_dropped_error=%.0f", gre_send_full, gre_send_error
    }'
  local side ns tun veth
  for side in srv cli; do
    if [ "$side" = srv ]; then ns=$NS_SRV; tun=$TUN_SRV; veth=$VETH_SRV; else ns=$NS_CLI; tun=$TUN_CLI; veth=$VETH_CLI; fi
    printf ' %s_tun_tx_dropped=%s %s_tun_rx_dropped=%s %s_tun_qdisc_drops=%s %s_veth_tx_dropped=%s %s_veth_rx_dropped=%s %s_veth_qdisc_drops=%s %s_raw_drops=%s %s_udp_rcvbuf_errors=%s' \
      "$side" "$(dev_stat "$ns" "$tun" tx_dropped)" "$side" "$(dev_stat "$ns" "$tun" rx_dropped)" \
      "$side" "$(qdisc_drops "$ns" "$tun")" "$side" "$(dev_stat "$ns" "$veth" tx_dropped)" \
      "$side" "$(dev_stat "$ns" "$veth" rx_dropped)" "$side" "$(qdisc_drops "$ns" "$veth")" \
      "$side" "$(raw_drops "$ns")" "$side" "$(udp_rcvbuf_errors "$ns")"
  done
  # The kernel's per-CPU input backlog (netdev_max_backlog) is not per
  # namespace: machine-wide, so other programs' drops count too.
  printf ' host_softnet_dropped=%s\n' "$(softnet_dropped)"
}

# AFTER - BEFORE, key by key (the counters only grow while the sessions
# live; `status` forgets a session when it ends, so snapshots are taken
# while it is up). Prints `key=delta ...` and sets DROPS_TOTAL.
drops_delta() {
  local out
  out=$(awk -v a="$2" -v b="$1" 'BEGIN {
    n = split(b, bb, " "); for (i = 1; i <= n; i++) { split(bb[i], kv, "="); before[kv[1]] = kv[2] }
    n = split(a, aa, " "); total = 0
    for (i = 1; i <= n; i++) {
      split(aa[i], kv, "="); d = kv[2] - before[kv[1]]; if (d < 0) d = 0
      printf "%s=%.0f ", kv[1], d; total += d
    }
    printf "total=%.0f", total }')
  DROPS_TOTAL=${out##*total=}
  DROPS_KV=${out% total=*}
}

# Nonzero counters of a `key=value ...` list, or "-".
nonzero() {
  local s
  s=$(tr ' ' '\n' <<<"$1" | awk -F= '$2 != 0 && $2 != "" {printf "%s%s", (n++ ? "," : ""), $0}')
  echo "${s:--}"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
cpu_per_gb() {  # TICKS OCTETS
  awk -v t="$1" -v o="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (o > 0) printf "%.2f", t / hz / (o / 1e9); else print "-" }'
}

# iperf3's JSON -> "gbps octets retransmits lost packets"
iperf_figures() {
  python3 - "$1" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception:
    print("0 0 0 0 0"); sys.exit()
end = r.get("end", {})
if "sum_received" in end and r.get("start", {}).get("test_start", {}).get("protocol") == "TCP":
    rx = end["sum_received"]
    print(f'{rx.get("bits_per_second", 0) / 1e9:.4f} {rx.get("bytes", 0)} '
          f'{end.get("sum_sent", {}).get("retransmits", 0)} 0 0')
else:
    # UDP: the receiver's view where iperf3 gives it (3.12: sum_received),
    # else the sum with the receiver's loss.
    s = end.get("sum_received") or end.get("sum", {})
    total = end.get("sum", {})
    print(f'{s.get("bits_per_second", 0) / 1e9:.4f} {s.get("bytes", 0)} 0 '
          f'{total.get("lost_packets", 0)} {total.get("packets", 0)}')
PY
}

ROWS=()
FIGURES=()
AGGREGATE=()
declare -A FLOOD_BOTH
# The flood runs on one session, then on N (only N when N is 1).
FLOOD_SESSIONS=$( [ "$N" = 1 ] && echo 1 || echo "1 $N" )
FAIRNESS=()
ZERO=()
DROPPED=()

# record MODE TEST DIR GBPS PPS RETRANS LOST DROPS_KV SRV_TICKS CLI_TICKS OCTETS CIPHER_GBPS
record() {
  local mode=$1 test=$2 dir=$3 gbps=$4 pps=$5 retr=$6 lost=$7 kv=$8 st=$9 ct=${10} octets=${11} cipher=${12}
  local dsum srv cli of_veth of_gre of_cipher
  # load_behind is pptp-load falling short of its rate, not a drop.
  dsum=$(tr ' ' '\n' <<<"$kv" | awk -F= '$1 != "load_behind" {t += $2} END {printf "%.0f\n", t}')
  srv=$(cpu_per_gb "$st" "$octets"); cli=$(cpu_per_gb "$ct" "$octets")
  of_veth=$(ratio "$gbps" "$VETH_GBPS"); of_gre=$(ratio "$gbps" "$GRE_GBPS"); of_cipher=$(ratio "$gbps" "$cipher")
  ROWS+=("$(printf '%-9s %-12s %-4s %8s %9s %6s %8s %6s %9s %9s %7s %7s %7s  %s' \
    "$mode" "$test" "$dir" "$gbps" "$pps" "$retr" "$lost" "$dsum" "$srv" "$cli" "$of_veth" "$of_gre" "$of_cipher" "$(nonzero "$kv")")")
  FIGURES+=("FIGURES mode=$mode test=$test dir=$dir gbps=$gbps pps=$pps tcp_retransmits=$retr lost=$lost drops=$dsum $kv srv_cpu_s_per_gb=$srv cli_cpu_s_per_gb=$cli of_veth_tcp=$of_veth of_gre_path=$of_gre of_cipher=$of_cipher")
  awk -v g="$gbps" 'BEGIN {exit !(g > 0)}' || ZERO+=("$mode $test $dir")
}

# ---- namespaces, iperf3 server ------------------------------------------------
netns_pair "$NS_SRV" "$NS_CLI" "$VETH_SRV" "$VETH_CLI" "$SRV_IP/24" "$CLI_IP/24"
# Echo Replies are not rate-limited by default (icmp_ratemask); make sure
# in this namespace, so the flood's replies measure the data path only.
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.icmp_ratemask=0
# Background programs start with `ip netns exec` itself (it execs them,
# so $! is their PID for CPU time and for stopping them), never through a
# shell function (a subshell whose PID is not theirs).
ip netns exec "$NS_SRV" iperf3 -s -p 5201 > "$WORK/iperf-server.log" 2>&1 &
IPERF_PID=$!
for _ in $(seq 1 50); do ip netns exec "$NS_SRV" ss -ltn 2>/dev/null | grep -q ':5201' && break; sleep 0.1; done

# ---- ceilings -----------------------------------------------------------------
log "ceiling 1: plain veth TCP, $SECS s"
timeout $(( SECS + 20 )) ip netns exec "$NS_CLI" iperf3 -c "$SRV_IP" -p 5201 -t "$SECS" -J > "$WORK/veth.json" \
  || die "iperf3 over the bare veth failed"
read -r VETH_GBPS _ VETH_RETR _ _ <<<"$(iperf_figures "$WORK/veth.json")"
# The GRE payload of a full-sized tunnel packet: the PPP protocol field
# and an MTU-sized IP packet.
# gre_ceiling THREADS NAME: pptp-tool gre-rate from THREADS sending
# threads (one socket each) to one receiver; sets GRE_<NAME>_{GBPS,PPS,
# SENT,RECEIVED}.
gre_ceiling() {
  local threads=$1 name=$2 rx
  ip netns exec "$NS_SRV" "$TOOL_BIN" gre-rate receive --secs "$SECS" --wait 20 > "$WORK/gre-rate-$name-receiver.txt" 2>&1 &
  GRE_RX_PID=$!
  sleep 0.3   # the receiver's socket is open before the first datagram
  timeout $(( SECS + 20 )) ip netns exec "$NS_CLI" "$TOOL_BIN" gre-rate send --to "$SRV_IP" --secs "$SECS" \
    --payload $(( MTU + 2 )) --threads "$threads" > "$WORK/gre-rate-$name-sender.txt" 2>&1 \
    || die "pptp-tool gre-rate send failed: $(cat "$WORK/gre-rate-$name-sender.txt")"
  wait "$GRE_RX_PID" || die "pptp-tool gre-rate receive failed: $(cat "$WORK/gre-rate-$name-receiver.txt")"
  GRE_RX_PID=""
  gre_field() { sed -n "s/^GRE_RATE .* $1=\([^ ]*\).*/\1/p" "$WORK/gre-rate-$name-$2.txt"; }
  printf -v "GRE_${name}_GBPS" '%s' "$(gre_field gbps receiver)"
  printf -v "GRE_${name}_PPS" '%s' "$(gre_field pps receiver)"
  printf -v "GRE_${name}_SENT" '%s' "$(gre_field datagrams sender)"
  printf -v "GRE_${name}_RECEIVED" '%s' "$(gre_field datagrams receiver)"
  rx="GRE_${name}_GBPS"
  log "raw GRE path, $threads sending thread(s): ${!rx} Gb/s"
}
# The GRE payload of a full-sized tunnel packet: the PPP protocol field
# and an MTU-sized IP packet. One sending thread is what one session's
# sender (a single-threaded pptp-client, or one server worker) can reach;
# one per core is what the host can, doing nothing else.
log "ceiling 2: the raw GRE path (pptp-tool gre-rate), $SECS s of $(( MTU + 2 ))-octet payloads, 1 and $(nproc) sending threads"
gre_ceiling 1 ONE
gre_ceiling "$(nproc)" ALL
GRE_GBPS=$GRE_ONE_GBPS
for g in "$GRE_ONE_GBPS" "$GRE_ALL_GBPS"; do
  awk -v g="$g" 'BEGIN {exit !(g > 0)}' || ZERO+=("raw GRE path ceiling")
done
log "ceiling 3: the in-process MPPE cipher (endpoint_path --ceiling)"
timeout 120 "$BENCH_BIN" --ceiling > "$WORK/ceiling.txt" || die "endpoint_path --ceiling failed"
cat "$WORK/ceiling.txt" >&2
ceiling() { sed -n "s/^CEILING $1 $2 size=1400 .* gbps=\([0-9.]*\).*/\1/p" "$WORK/ceiling.txt"; }

# ---- per MPPE setting ---------------------------------------------------------
for mode in $MODES; do
  case "$mode" in
    none) srv_mppe='mppe = "none"'; cli_mppe=(--mppe none); load_mppe=(--mppe none) ;;
    *) srv_mppe="mppe = \"128\"
mppe_required = true
mppe_mode = \"$mode\""
       cli_mppe=(--mppe 128 --mppe-required --mppe-mode "$mode")
       load_mppe=(--mppe 128 --mppe-mode "$mode") ;;
  esac
  CIPHER_GBPS=$( [ "$mode" = none ] && echo 0 || ceiling cipher "mppe128-$mode")
  CONF="$WORK/server-$mode.toml"
  cat > "$CONF" <<TOML
listen = "$SRV_IP:1723"
local_address = "$TUN_ADDR"
pool = { first = "$POOL_FIRST", last = "10.204.1.250" }
auth = ["mschap-v2"]
$srv_mppe
max_sessions = $(( N + 8 ))
tun_name = "$TUN_SRV"
mtu = $MTU
host_name = "pptp-server"
control_socket = "$WORK/control-$mode.sock"
${HONOUR_PEER_WINDOW:+honour_peer_window = $HONOUR_PEER_WINDOW}
${WORKERS:+workers = $WORKERS}
${TUN_OFFLOAD:+tun_offload = $TUN_OFFLOAD}

# One source, one user, N sessions at once: lift the per-source and
# per-user caps an internet-facing server keeps (as scripts/scale.sh).
[limits]
max_unauthenticated = 1000000
max_unauthenticated_per_source = 0
max_connections_per_source = 0
max_sessions_per_user = 0

[[users]]
name = "$USER_NAME"
password = "$PASSWORD"
TOML
  log "$mode: starting pptp-server"
  ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" 2> "$WORK/server-$mode.log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do status >/dev/null 2>&1 && break; sleep 0.1; done
  status >/dev/null 2>&1 || { tail -5 "$WORK/server-$mode.log" >&2; die "pptp-server did not start"; }

  # (a) one pptp-client session and iperf3 through it.
  log "$mode: pptp-client session"
  CLIENT_LOG="$WORK/client-$mode.log"
  ip netns exec "$NS_CLI" env PPTP_PASSWORD="$PASSWORD" "$CLIENT_BIN" --server "$SRV_IP" --user "$USER_NAME" \
    --auth mschap-v2 "${cli_mppe[@]}" --retries 0 --tun "$TUN_CLI" \
    ${CLIENT_WINDOW:+--receive-window "$CLIENT_WINDOW"} \
    $( [ "${TUN_OFFLOAD:-true}" = false ] && echo --no-tun-offload ) 2> "$CLIENT_LOG" &
  CLIENT_PID=$!
  wait_for 15 "$CLIENT_LOG" 'IPCP up' "$mode: client session"
  # Tests: name, iperf3 options, direction.
  for t in "tcp||up" "tcp|-R|down" "udp|-u -b 0 -l $UDP_LEN|up" "udp|-u -b 0 -l $UDP_LEN -R|down" \
           "udp-noloss|-u -b $NOLOSS_RATE -l $UDP_LEN|up"; do
    IFS='|' read -r test opts dir <<<"$t"
    d0=$(drops_snapshot); s0=$(cpu_ticks "$SERVER_PID"); c0=$(cpu_ticks "$CLIENT_PID")
    # Packets/s delivered in the data direction: what the receiving end's
    # TUN device got from its PPTP program.
    rx_ns=$NS_SRV; rx_dev=$TUN_SRV
    [ "$dir" = down ] && { rx_ns=$NS_CLI; rx_dev=$TUN_CLI; }
    p0=$(dev_stat "$rx_ns" "$rx_dev" rx_packets); t0=$(date +%s.%N)
    # shellcheck disable=SC2086  # opts are words
    timeout $(( SECS + 20 )) ip netns exec "$NS_CLI" iperf3 -c "$TUN_ADDR" -p 5201 -t "$SECS" $opts -J \
      > "$WORK/$mode-$test-$dir.json" 2> "$WORK/$mode-$test-$dir.err" || true
    t1=$(date +%s.%N); p1=$(dev_stat "$rx_ns" "$rx_dev" rx_packets)
    s1=$(cpu_ticks "$SERVER_PID"); c1=$(cpu_ticks "$CLIENT_PID"); d1=$(drops_snapshot)
    read -r gbps octets retr lost _ <<<"$(iperf_figures "$WORK/$mode-$test-$dir.json")"
    pps=$(awk -v a="$p1" -v b="$p0" -v x="$t1" -v y="$t0" 'BEGIN {printf "%.0f", (a - b) / (x - y)}')
    drops_delta "$d0" "$d1"
    record "$mode" "$test" "$dir" "$gbps" "$pps" "$retr" "$lost" "$DROPS_KV" \
      $(( s1 - s0 )) $(( c1 - c0 )) "$octets" "$CIPHER_GBPS"
    log "$mode $test $dir: $gbps Gb/s, $pps packets/s, retransmits $retr, lost $lost, drops $DROPS_TOTAL"
    if [ "$test" = udp-noloss ] && { [ "$lost" != 0 ] || [ "$DROPS_TOTAL" != 0 ]; }; then
      DROPPED+=("$mode $test $dir: lost $lost, $(nonzero "$DROPS_KV")")
    fi
  done
  log "$mode: stopping pptp-client"
  stop_pid "$CLIENT_PID" 10; CLIENT_PID=""

  # (b) pptp-load's Echo flood at the same total rate on one session, then
  # on N: the aggregate of N sessions as a share of one's (issue #15:
  # within 10 %), both driven by the same program the same way.
  for n in $FLOOD_SESSIONS; do
    log "$mode: pptp-load, $n sessions, $FLOOD_RATE Echo Requests/s of $FLOOD_SIZE octets for $SECS s"
    # The sessions of (a) are gone from `status` once down: wait for that.
    for _ in $(seq 1 50); do status 2>/dev/null | grep -q 'sessions=0' && break; sleep 0.1; done
    LOAD_OUT="$WORK/load-$mode-N$n.out"
    # Before pptp-load starts: its sessions' counters start at zero, and
    # only the flood crosses the server's TUN device.
    d0=$(drops_snapshot)
    r0=$(dev_stat "$NS_SRV" "$TUN_SRV" rx_bytes); rp0=$(dev_stat "$NS_SRV" "$TUN_SRV" rx_packets)
    ip netns exec "$NS_CLI" "$LOAD_BIN" --server "$SRV_IP:1723" -n "$n" -k 50 --user "$USER_NAME" --password "$PASSWORD" \
      "${load_mppe[@]}" --traffic-secs "$SECS" --traffic-rate "$FLOOD_RATE" --traffic-size "$FLOOD_SIZE" \
      --hold 2 > "$LOAD_OUT" 2> "$WORK/load-$mode-N$n.err" &
    LOAD_PID=$!
    wait_for 60 "$LOAD_OUT" '^RESULT' "$mode: pptp-load establishing $n sessions"
    grep -q "established=$n " "$LOAD_OUT" || { cat "$LOAD_OUT" >&2; die "$mode: pptp-load did not establish $n sessions"; }
    # CPU from the end of the set-up (a few ms of the flood may precede it).
    s0=$(cpu_ticks "$SERVER_PID"); c0=$(cpu_ticks "$LOAD_PID")
    wait_for $(( SECS + 10 )) "$LOAD_OUT" '^TRAFFIC' "$mode: pptp-load's traffic phase"
    r1=$(dev_stat "$NS_SRV" "$TUN_SRV" rx_bytes); rp1=$(dev_stat "$NS_SRV" "$TUN_SRV" rx_packets)
    # While pptp-load holds the sessions (--hold 2): `status` still lists them.
    s1=$(cpu_ticks "$SERVER_PID"); c1=$(cpu_ticks "$LOAD_PID"); d1=$(drops_snapshot)
    load_rc=0; timeout 40 tail --pid="$LOAD_PID" -f /dev/null || load_rc=$?
    wait "$LOAD_PID" || load_rc=$?
    LOAD_PID=""
    tline=$(grep '^TRAFFIC' "$LOAD_OUT")
    tf() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$tline"; }
    send_s=$(tf send_seconds); sent=$(tf sent); replied=$(tf replied); replied_octets=$(tf replied_octets)
    drops_delta "$d0" "$d1"
    # pptp-load's own shortfalls: requests the rate called for that it had
    # no time to send (its CPU, not the server), that its endpoints did not
    # send (a full GRE window) or that its socket refused.
    kv="$DROPS_KV load_behind=$(tf behind) load_not_sent=$(tf not_sent) load_send_errors=$(tf send_errors)"
    # Fairness: the fewest and most replies one session got, as a ratio of
    # the mean (requests go out round robin; issue #15 asks for +-20 %).
    fair=$(awk -v lo="$(tf replied_min)" -v hi="$(tf replied_max)" -v r="$replied" -v n="$(tf sessions)" \
      'BEGIN { m = (n > 0) ? r / n : 0; if (m > 0) printf "%.2f %.2f", lo / m, hi / m; else print "0 0" }')
    [ "$n" = 1 ] || FAIRNESS+=("$mode flood-N$n: fewest replies per session $(tf replied_min), most $(tf replied_max): ${fair% *} and ${fair#* } of the mean")
    lost=$(( sent - replied ))
    up_gbps=$(awk -v o=$(( r1 - r0 )) -v s="$send_s" 'BEGIN { if (s > 0) printf "%.4f", o * 8 / s / 1e9; else print 0 }')
    up_pps=$(awk -v p=$(( rp1 - rp0 )) -v s="$send_s" 'BEGIN { if (s > 0) printf "%.0f", p / s; else print 0 }')
    down_gbps=$(awk -v o="$replied_octets" -v s="$send_s" 'BEGIN { if (s > 0) printf "%.4f", o * 8 / s / 1e9; else print 0 }')
    down_pps=$(awk -v p="$replied" -v s="$send_s" 'BEGIN { if (s > 0) printf "%.0f", p / s; else print 0 }')
    # CPU per GB over both directions' octets.
    both=$(( r1 - r0 + replied_octets ))
    record "$mode" "flood-N$n" up "$up_gbps" "$up_pps" - "$lost" "$kv" $(( s1 - s0 )) $(( c1 - c0 )) "$both" "$CIPHER_GBPS"
    record "$mode" "flood-N$n" down "$down_gbps" "$down_pps" - - "" 0 0 0 "$CIPHER_GBPS"
    log "$mode flood, $n session(s): $tline"
    [ "$load_rc" = 0 ] || log "$mode: pptp-load exit $load_rc (see $WORK/load-$mode-N$n.err)"
    FLOOD_BOTH[$n]=$(awk -v u="$up_gbps" -v d="$down_gbps" 'BEGIN {printf "%.4f", u + d}')
  done
  AGGREGATE+=("$mode: $N sessions carried $(ratio "${FLOOD_BOTH[$N]:-0}" "${FLOOD_BOTH[1]:-0}") of one session's Echo traffic (${FLOOD_BOTH[$N]:-0} against ${FLOOD_BOTH[1]:-0} Gb/s, both directions, same total rate)")

  log "$mode: stopping pptp-server"
  stop_pid "$SERVER_PID" 10; SERVER_PID=""
done

# ---- report -------------------------------------------------------------------
printf '\npptp-server data-plane throughput (%s; %s cores; load average %s; SECS=%s, N=%s, flood %s/s x %s B, MTU %s; client window %s, server honours it: %s; server workers %s)\n' \
  "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$SECS" "$N" "$FLOOD_RATE" "$FLOOD_SIZE" "$MTU" \
  "${CLIENT_WINDOW:-default}" "${HONOUR_PEER_WINDOW:-default}" "${WORKERS:-1}, TUN coalescing ${TUN_OFFLOAD:-default}"
printf 'ceilings: plain veth TCP %s Gb/s (retransmits %s); raw GRE path, %s-octet payloads: one sending thread %s Gb/s, %s datagrams/s (%s of %s received), %s threads %s Gb/s (%s of %s received); MPPE-128 cipher, encrypt+decrypt of 1400 B on one core: stateless %s Gb/s, stateful %s Gb/s\n' \
  "$VETH_GBPS" "$VETH_RETR" $(( MTU + 2 )) "$GRE_ONE_GBPS" "$GRE_ONE_PPS" "$GRE_ONE_RECEIVED" "$GRE_ONE_SENT" \
  "$(nproc)" "$GRE_ALL_GBPS" "$GRE_ALL_RECEIVED" "$GRE_ALL_SENT" \
  "$(ceiling cipher mppe128-stateless)" "$(ceiling cipher mppe128-stateful)"
printf '(/gre: of the raw GRE path with one sending thread; that path is %s of veth TCP with one thread, %s with %s)\n' \
  "$(ratio "$GRE_ONE_GBPS" "$VETH_GBPS")" "$(ratio "$GRE_ALL_GBPS" "$VETH_GBPS")" "$(nproc)"
printf '%-9s %-12s %-4s %8s %9s %6s %8s %6s %9s %9s %7s %7s %7s  %s\n' \
  mode test dir "Gb/s" "pkts/s" retr lost drops "srvCPUs/GB" "cliCPUs/GB" "/veth" "/gre" "/cipher" "nonzero drop counters"
for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done
echo "FIGURES ceiling=veth_tcp gbps=$VETH_GBPS tcp_retransmits=$VETH_RETR"
for name in ONE ALL; do
  g="GRE_${name}_GBPS"; p="GRE_${name}_PPS"; sn="GRE_${name}_SENT"; r="GRE_${name}_RECEIVED"
  echo "FIGURES ceiling=gre_path threads=$( [ $name = ONE ] && echo 1 || nproc ) gbps=${!g} pps=${!p} payload=$(( MTU + 2 )) sent=${!sn} received=${!r} of_veth_tcp=$(ratio "${!g}" "$VETH_GBPS")"
done
sed -n 's/^CEILING \([a-z]*\) \([^ ]*\) size=\([0-9]*\) ns_per_packet=\([0-9.]*\) gbps=\([0-9.]*\)/FIGURES ceiling=\1 mode=\2 size=\3 ns_per_packet=\4 gbps=\5/p' "$WORK/ceiling.txt"
for f in "${FIGURES[@]}"; do printf '%s\n' "$f"; done
for f in "${FAIRNESS[@]}"; do printf 'fairness: %s\n' "$f"; done
for f in "${AGGREGATE[@]}"; do printf 'aggregate: %s\n' "$f"; done

rc=0
if [ "${#ZERO[@]}" -gt 0 ]; then
  printf 'throughput: FAIL: zero throughput: %s\n' "${ZERO[@]}" >&2
  rc=1
fi
if [ "${#DROPPED[@]}" -gt 0 ]; then
  if [ "$FAIL_ON_DROPS" = 1 ]; then
    printf 'throughput: FAIL: drops in a no-loss run: %s\n' "${DROPPED[@]}" >&2
    rc=1
  else
    printf 'throughput: note (FAIL_ON_DROPS=1 would fail): drops in a no-loss run: %s\n' "${DROPPED[@]}" >&2
  fi
fi
[ "$rc" = 0 ] && echo "throughput: done"
exit "$rc"
