#!/usr/bin/env bash
# Scale test: pptp-server under N concurrent clients (issue #7, "Scale").
#
#   sudo bash scripts/scale.sh                 # N = 1000, then 10000
#   N=1000 sudo bash scripts/scale.sh          # one size (CI)
#   N="500 2000" CONCURRENCY=100 RAMP=2000 sudo bash scripts/scale.sh
#
# Two network namespaces created here (pptpscale-srv, pptpscale-cli)
# joined by a veth pair (10.0.2.1 <-> 10.0.2.2): raw GRE sockets on one
# host see each other's packets, so server and clients must not share a
# stack. No traffic leaves them. For each N, a fresh pptp-server (pool
# and max_sessions = N) and pptp-load (N sessions, MS-CHAPv2 + MPPE-128
# required, at most CONCURRENCY handshakes in flight) run; the script
# records:
#   * sessions/s: first TCP connect to last IPCP+CCP opened (pptp-load);
#   * server RSS (VmRSS of /proc/PID/status) before any session and with
#     all N established -> delta / N;
#   * server CPU time (utime+stime) spent establishing them;
#   * `pptp-server status`: tunnels and sessions = N;
#   * data: one ICMP Echo per session through the tunnel to the server's
#     tunnel address, answered by the server's kernel (pptp-load checks the
#     replies; the script checks the TUN device's rx_packets grew by >= N);
#   * refusal: one more client is refused with SCCRP result 2 / error 4
#     and `status` counts it;
#   * hold: HOLD seconds with PPTP keepalives every KEEPALIVE seconds,
#     answered (pptp-load counts them; no session may drop);
#   * orderly close of every session and the server back to 0 sessions.
# Prints a table; any failed check exits non-zero. Everything is torn down
# on exit (trap). Env: N, CONCURRENCY (200), RAMP (0 = unlimited new
# connections/s), HOLD (6), KEEPALIVE (2), SERVER_BIN/LOAD_BIN (skip the
# build and use these), KEEP=1 (keep the logs directory), WORKERS (the
# server's `workers`; default unset, one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES="${N:-1000 10000}"
CONCURRENCY="${CONCURRENCY:-200}"
RAMP="${RAMP:-0}"
HOLD="${HOLD:-6}"
KEEPALIVE="${KEEPALIVE:-2}"
NS_SRV=pptpscale-srv
NS_CLI=pptpscale-cli
SRV_IP=10.0.2.1
CLI_IP=10.0.2.2
TUN=pscale0
TUN_ADDR=10.200.0.1

log() { printf '[scale %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'scale: ERROR: %s\n' "$*" >&2; exit 2; }
# shellcheck source=lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, raw GRE sockets, TUN)"
command -v ip >/dev/null || die "missing tool: ip"

if [ -z "${SERVER_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ]; then
  log "building pptp-server and pptp-load (release)"
  (cd "$ROOT" && cargo build --release -q -p pptp-vpn --bin pptp-server --bin pptp-load) \
    || die "cargo build failed"
fi
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/pptp-server}"
LOAD_BIN="${LOAD_BIN:-$ROOT/target/release/pptp-load}"
[ -x "$SERVER_BIN" ] && [ -x "$LOAD_BIN" ] || die "binaries missing: $SERVER_BIN $LOAD_BIN"

WORK="$(mktemp -d /tmp/pptp-scale.XXXXXX)"
SERVER_PID=""
LOAD_PID=""
NS_CREATED=0

cleanup() {
  local rc=$?
  stop_pid "$LOAD_PID" 20
  stop_pid "$SERVER_PID" 20
  if [ "$NS_CREATED" = 1 ]; then  # never another run's namespaces
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
trap 'exit 130' INT TERM

# ---- namespaces ---------------------------------------------------------------
netns_pair "$NS_SRV" "$NS_CLI" scale-s scale-c "$SRV_IP/24" "$CLI_IP/24"
# 10,000 clients from one address: widen the client's ephemeral ports
# (per namespace) and the server's accept backlog.
ip netns exec "$NS_CLI" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
ip netns exec "$NS_SRV" sysctl -qw net.core.somaxconn=8192

# Each session is one TCP socket in each program: lift the soft fd limit
# (pptp-load also raises its own); inherited by the server.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)

# ---- helpers ------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{printf "%.0f\n", $14 + $15}' "/proc/$1/stat"; }
ip_add() {  # ADDR N -> ADDR + N
  local a b c d x
  IFS=. read -r a b c d <<<"$1"
  x=$(( (a << 24) + (b << 16) + (c << 8) + d + $2 ))
  printf '%d.%d.%d.%d' $(( (x >> 24) & 255 )) $(( (x >> 16) & 255 )) $(( (x >> 8) & 255 )) $(( x & 255 ))
}
status() { ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" status; }
# Tunnels and sessions, summed over the workers' tables (`workers` > 1).
status_sessions() {
  status | sed -n 's/.*Total tunnels=\([0-9]*\) sessions=\([0-9]*\).*/\1 \2/p' \
    | awk '{t += $1; s += $2} END {printf "%.0f %.0f\n", t, s}'
}
# Packets the server's TUN devices received (DEV and the other workers' DEV-k).
tun_rx_packets() {
  ip netns exec "$NS_SRV" sh -c 'cat /sys/class/net/"$1"/statistics/rx_packets /sys/class/net/"$1"-*/statistics/rx_packets 2>/dev/null; true' \
    _ "$TUN" | awk '{t += $1} END {printf "%.0f\n", t}'
}
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" "$1" | head -1; }

ROWS=()
for n in $SIZES; do
  [ "$n" -ge 1 ] && [ "$n" -le 60000 ] || die "N=$n: 1..60000"
  [ "$FD_LIMIT" -ge $(( n + 64 )) ] || die "open-file limit $FD_LIMIT < N + 64; raise the hard limit"
  log "N=$n: starting pptp-server (pool $n addresses, max_sessions $n)"
  CONF="$WORK/server-$n.toml"
  POOL_FIRST=10.200.1.0
  POOL_LAST=$(ip_add "$POOL_FIRST" $(( n - 1 )))
  cat > "$CONF" <<TOML
listen = "$SRV_IP:1723"
local_address = "$TUN_ADDR"
pool = { first = "$POOL_FIRST", last = "$POOL_LAST" }
auth = ["mschap-v2"]
mppe = "128"
mppe_required = true
mppe_mode = "stateless"
keepalive_secs = $KEEPALIVE
max_sessions = $n
tun_name = "$TUN"
mtu = 1396
host_name = "pptp-server"
control_socket = "$WORK/control-$n.sock"
${WORKERS:+workers = $WORKERS}

# Every session comes from one address as one user, all at once: lift the
# per-source, per-user and pre-authentication caps an internet-facing
# server keeps (the time-outs stay).
[limits]
max_unauthenticated = 1000000
max_unauthenticated_per_source = 0
max_connections_per_source = 0
max_sessions_per_user = 0

[[users]]
name = "load"
password = "loadpass"
TOML
  ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" 2> "$WORK/server-$n.log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do status >/dev/null 2>&1 && break; sleep 0.1; done
  status >/dev/null 2>&1 || { tail -5 "$WORK/server-$n.log" >&2; die "pptp-server did not start"; }
  sleep 0.5   # let the allocator settle before the baseline
  rss0=$(rss_kib "$SERVER_PID"); cpu0=$(cpu_ticks "$SERVER_PID")
  rx0=$(tun_rx_packets)

  log "N=$n: pptp-load, concurrency $CONCURRENCY, ramp ${RAMP:-0}/s"
  t0=$(date +%s.%N)
  ip netns exec "$NS_CLI" "$LOAD_BIN" --server "$SRV_IP:1723" -n "$n" -k "$CONCURRENCY" \
    --ramp "$RAMP" --data --hold "$HOLD" > "$WORK/load-$n.out" 2> "$WORK/load-$n.err" &
  LOAD_PID=$!
  limit=$(( 60 + n / 100 ))
  # RSS and CPU when all N are established (the RESULT line), before the
  # data check; the rest once pptp-load holds the sessions.
  measured=0
  while ! grep -q '^HOLDING' "$WORK/load-$n.out"; do
    if [ "$measured" = 0 ] && grep -q '^RESULT' "$WORK/load-$n.out"; then
      rss1=$(rss_kib "$SERVER_PID"); cpu1=$(cpu_ticks "$SERVER_PID"); measured=1
    fi
    if ! kill -0 "$LOAD_PID" 2>/dev/null; then
      cat "$WORK/load-$n.out" >&2; tail -5 "$WORK/load-$n.err" >&2
      die "N=$n: pptp-load ended before holding the sessions"
    fi
    awk -v a="$(date +%s.%N)" -v b="$t0" -v l="$limit" 'BEGIN{exit !(a-b > l)}' \
      && die "N=$n: not established within $limit s"
    sleep 0.1
  done
  [ "$measured" = 1 ] || { rss1=$(rss_kib "$SERVER_PID"); cpu1=$(cpu_ticks "$SERVER_PID"); }
  rx1=$(tun_rx_packets)
  read -r st_tunnels st_sessions <<<"$(status_sessions)"
  cat "$WORK/load-$n.out" >&2
  established=$(field "$WORK/load-$n.out" established)
  failed=$(field "$WORK/load-$n.out" failed)
  [ "$established" = "$n" ] && [ "$failed" = 0 ] || die "N=$n: established $established, failed $failed"
  [ "$st_sessions" = "$n" ] && [ "$st_tunnels" = "$n" ] \
    || die "N=$n: server status says $st_tunnels tunnels, $st_sessions sessions"
  if [ "${WORKERS:-1}" -gt 1 ]; then
    # Worker 0 deals connections to the worker holding the fewest: every
    # worker's table must hold its share (N / WORKERS, give or take one).
    per_worker=$(status | sed -n 's/.*Total tunnels=[0-9]* sessions=\([0-9]*\).*/\1/p' | tr '\n' ' ')
    log "N=$n: sessions per worker: $per_worker"
    for c in $per_worker; do
      [ $(( c * WORKERS - n )) -le "$WORKERS" ] && [ $(( n - c * WORKERS )) -le "$WORKERS" ] \
        || die "N=$n: sessions per worker $per_worker, not N / $WORKERS each"
    done
    [ "$(wc -w <<<"$per_worker")" = "$WORKERS" ] || die "N=$n: status lists $(wc -w <<<"$per_worker") workers"
  fi
  replied=$(sed -n 's/^DATA .* replied=\([0-9]*\).*/\1/p' "$WORK/load-$n.out")
  [ "$replied" = "$n" ] || die "N=$n: $replied of $n echo replies through the tunnels"
  [ $(( rx1 - rx0 )) -ge "$n" ] || die "N=$n: TUN rx_packets grew by $(( rx1 - rx0 )) < $n"

  t_hold=$(date +%s.%N)
  if [ "${SKIP_REFUSAL:-0}" = 1 ]; then
    log "N=$n: refusal check skipped (SKIP_REFUSAL=1)"
  else
  log "N=$n: one more client must be refused (SCCRP result 2, error 4)"
  if ip netns exec "$NS_CLI" "$LOAD_BIN" --server "$SRV_IP:1723" -n 1 --hold 0 \
       > "$WORK/refused-$n.out" 2> "$WORK/refused-$n.err"; then
    die "N=$n: a client beyond max_sessions was accepted"
  fi
  grep -q 'Start-Control-Connection-Request refused (result 2, error 4)' "$WORK/refused-$n.out" \
    || { cat "$WORK/refused-$n.out" >&2; die "N=$n: the extra client was not refused with result 2 / error 4"; }
  status > "$WORK/status-$n.txt"
  grep -q '^Refused at max_sessions: 1 ' "$WORK/status-$n.txt" || die "N=$n: status does not count the refusal"
  fi
  # Server CPU while it only keeps the N sessions alive (keepalives).
  cpu2=$(cpu_ticks "$SERVER_PID"); t2=$(date +%s.%N)
  sleep "$(awk -v h="$HOLD" -v a="$t2" -v b="$t_hold" 'BEGIN{w=h-1-(a-b); print (w>0.5?w:0.5)}')"
  cpu3=$(cpu_ticks "$SERVER_PID"); t3=$(date +%s.%N)
  idle_cpu=$(awk -v a="$cpu3" -v b="$cpu2" -v t="$(getconf CLK_TCK)" -v x="$t3" -v y="$t2" \
    'BEGIN{printf "%.1f", 100*(a-b)/t/(x-y)}')

  log "N=$n: holding ${HOLD} s (keepalive every ${KEEPALIVE} s), then the orderly close"
  load_rc=0; wait "$LOAD_PID" || load_rc=$?
  LOAD_PID=""
  grep '^CLOSED' "$WORK/load-$n.out" >&2 || true
  [ "$load_rc" = 0 ] || { tail -5 "$WORK/load-$n.err" >&2; die "N=$n: pptp-load failed (exit $load_rc)"; }
  echoes=$(field "$WORK/load-$n.out" pptp_echo_requests_answered)
  closed=$(sed -n 's/^CLOSED closed=\([0-9]*\).*/\1/p' "$WORK/load-$n.out")
  [ "$HOLD" -lt $(( KEEPALIVE * 2 )) ] || [ "$echoes" -ge "$n" ] \
    || die "N=$n: only $echoes PPTP keepalives answered while holding"
  left=""
  for _ in $(seq 1 100); do
    read -r _ left <<<"$(status_sessions)"
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  [ "$left" = 0 ] || die "N=$n: server still has $left sessions after the close"
  stop_pid "$SERVER_PID" 20; SERVER_PID=""

  rate=$(field "$WORK/load-$n.out" rate)
  secs=$(field "$WORK/load-$n.out" seconds)
  p50=$(field "$WORK/load-$n.out" setup_ms_p50); p99=$(field "$WORK/load-$n.out" p99)
  tck=$(getconf CLK_TCK)
  ROWS+=("$(printf '%6d %6d %5d %8s %9s %6s/%-6s %9d %9d %8d %8.2f %7s %7d %6d %7d %6d' \
    "$n" "$established" "$failed" "$secs" "$rate" "$p50" "$p99" "$rss0" "$rss1" \
    $(( (rss1 - rss0) * 1024 / n )) "$(awk -v a="$cpu1" -v b="$cpu0" -v t="$tck" 'BEGIN{print (a-b)/t}')" \
    "$idle_cpu%" "$st_sessions" "$replied" "$echoes" "$closed")")
done

printf '\npptp-server scale (%s; %s cores; load %s; concurrency %s, ramp %s/s, MS-CHAPv2 + MPPE-128)\n' \
  "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$CONCURRENCY" "$RAMP"
printf '%6s %6s %5s %8s %9s %13s %9s %9s %8s %8s %7s %7s %6s %7s %6s\n' \
  N estab fail "secs" "sess/s" "p50/p99 ms" "RSS0 KiB" "RSS1 KiB" "B/sess" "setupCPU" "idleCPU" status data echoes closed
for r in "${ROWS[@]}"; do printf '%s\n' "$r"; done
