#!/usr/bin/env bash
# The tokio host example end to end (issue #13 item 4b):
#
#   sudo bash scripts/tokio-example.sh
#
# Two network namespaces created here (ptk-srv-PID, ptk-cli-PID) joined by
# a veth pair (10.0.3.1 <-> 10.0.3.2), as scripts/scale.sh does: raw GRE
# sockets on one host see each other's packets, so server and client must
# not share a stack. No traffic leaves them. pptp-tokio-server runs in
# one, the project's pptp-client in the other (MS-CHAPv2, MPPE-128
# required); three ICMP echoes go through the tunnel to the server's
# tunnel address (scripts/interop/ping.py: no iputils needed); the client
# is stopped (SIGTERM: LCP Terminate, Call-Clear-Request, StopCCRQ); the
# server must have logged the session up (with its address and MPPE-128)
# and down; a client with a wrong password must be refused and the server
# must log Windows error 691; then it is stopped and its log printed. Any failure exits
# non-zero; everything is torn down on exit (trap).
#
# Bounded: after the build, the whole run has LIMIT seconds (50) and each
# wait its own timeout. Env: SERVER_BIN/CLIENT_BIN (skip the build and use
# these), KEEP=1 (keep the logs directory).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIMIT="${LIMIT:-50}"
NS_SRV="ptk-srv-$$"
NS_CLI="ptk-cli-$$"
VETH_SRV="ptks$$"
VETH_CLI="ptkc$$"
SRV_IP=10.0.3.1
CLI_IP=10.0.3.2
TUN_ADDR=10.203.0.1
POOL_FIRST=10.203.0.10
POOL_LAST=10.203.0.20
USER_NAME=tokio
PASSWORD=tokio-pass

log() { printf '[tokio-example %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'tokio-example: ERROR: %s\n' "$*" >&2; exit 2; }
# shellcheck source=lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, raw GRE sockets, TUN)"
command -v ip >/dev/null || die "missing tool: ip"
command -v python3 >/dev/null || die "missing tool: python3 (for scripts/interop/ping.py)"

if [ -z "${SERVER_BIN:-}" ] || [ -z "${CLIENT_BIN:-}" ]; then
  log "building pptp-tokio-server and pptp-client (release)"
  (cd "$ROOT" && cargo build --release -q -p pptp-vpn --bin pptp-tokio-server --bin pptp-client) \
    || die "cargo build failed"
fi
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/pptp-tokio-server}"
CLIENT_BIN="${CLIENT_BIN:-$ROOT/target/release/pptp-client}"
[ -x "$SERVER_BIN" ] && [ -x "$CLIENT_BIN" ] || die "binaries missing: $SERVER_BIN $CLIENT_BIN"

WORK="$(mktemp -d /tmp/pptp-tokio-example.XXXXXX)"
SERVER_LOG="$WORK/server.log"
CLIENT_LOG="$WORK/client.log"
SERVER_PID=""
CLIENT_PID=""
WATCHDOG_PID=""
NS_CREATED=0

cleanup() {
  local rc=$?
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
  stop_pid "$CLIENT_PID"
  stop_pid "$SERVER_PID"
  if [ "$NS_CREATED" = 1 ]; then  # only this run's namespaces
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ]; then
    for f in "$SERVER_LOG" "$CLIENT_LOG"; do
      [ -s "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
    done
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

# The whole run below is bounded: the watchdog ends it at LIMIT seconds.
start_watchdog "$LIMIT"


# ---- namespaces ---------------------------------------------------------------
netns_pair "$NS_SRV" "$NS_CLI" "$VETH_SRV" "$VETH_CLI" "$SRV_IP/24" "$CLI_IP/24"

# ---- server and client --------------------------------------------------------
log "starting pptp-tokio-server in $NS_SRV"
ip netns exec "$NS_SRV" "$SERVER_BIN" --listen "$SRV_IP:1723" --local "$TUN_ADDR" \
  --pool "$POOL_FIRST-$POOL_LAST" --user "$USER_NAME:$PASSWORD" --mppe 128 --mppe-required \
  2> "$SERVER_LOG" &
SERVER_PID=$!
wait_for 10 "$SERVER_LOG" 'listening on' "pptp-tokio-server start"

log "starting pptp-client in $NS_CLI (MS-CHAPv2, MPPE-128 required)"
ip netns exec "$NS_CLI" env PPTP_PASSWORD="$PASSWORD" "$CLIENT_BIN" --server "$SRV_IP" \
  --user "$USER_NAME" --auth mschap-v2 --mppe 128 --mppe-required --retries 0 --tun ptkc0 \
  2> "$CLIENT_LOG" &
CLIENT_PID=$!
wait_for 15 "$CLIENT_LOG" 'IPCP up' "client session"
wait_for 5 "$SERVER_LOG" "session [0-9]+ up: user \"$USER_NAME\", address $POOL_FIRST, MPPE-128" \
  "server's session-up line (address $POOL_FIRST, MPPE-128)"

# ---- data through the tunnel --------------------------------------------------
log "3 ICMP echoes from $NS_CLI to $TUN_ADDR through the tunnel"
rx0=$(ip netns exec "$NS_SRV" cat /sys/class/net/pptptk0/statistics/rx_packets)
timeout 15 ip netns exec "$NS_CLI" python3 "$ROOT/scripts/interop/ping.py" "$TUN_ADDR" 3 2 \
  | tee "$WORK/ping.txt" >&2 || die "ping through the tunnel failed"
grep -q '3 packets transmitted, 3 received' "$WORK/ping.txt" || die "not all 3 echoes answered"
rx1=$(ip netns exec "$NS_SRV" cat /sys/class/net/pptptk0/statistics/rx_packets)
[ $(( rx1 - rx0 )) -ge 3 ] || die "server TUN rx_packets grew by $(( rx1 - rx0 )) < 3"

# ---- orderly close ------------------------------------------------------------
log "stopping pptp-client (SIGTERM)"
kill -TERM "$CLIENT_PID"
for _ in $(seq 1 100); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CLIENT_PID" 2>/dev/null && die "pptp-client did not exit within 10 s"
client_rc=0; wait "$CLIENT_PID" || client_rc=$?
CLIENT_PID=""
[ "$client_rc" = 0 ] || die "pptp-client exited with $client_rc"
wait_for 10 "$SERVER_LOG" 'session [0-9]+ down after [0-9]+ s: ' "server's session-down line"
wait_for 5 "$SERVER_LOG" 'connection [0-9]+ closed' "server closing the control connection"

# ---- a wrong password: refused with Windows error 691 -------------------------
log "pptp-client with a wrong password: must be refused (error 691)"
client_rc=0
timeout 15 ip netns exec "$NS_CLI" env PPTP_PASSWORD=wrong "$CLIENT_BIN" --server "$SRV_IP" \
  --user "$USER_NAME" --auth mschap-v2 --mppe 128 --mppe-required --retries 0 --tun ptkc0 \
  2> "$WORK/client-wrong.log" || client_rc=$?
[ "$client_rc" != 0 ] && [ "$client_rc" != 124 ] \
  || die "pptp-client with a wrong password: exit $client_rc (expected a refusal)"
wait_for 5 "$SERVER_LOG" "user \"$USER_NAME\" failed MS-CHAPv2: .*\(Windows error 691\)" \
  "server's authentication-failure line"
wait_for 5 "$SERVER_LOG" 'down after [0-9]+ s: PPP: error 691' "server's session-down line with error 691"

log "stopping pptp-tokio-server (SIGTERM)"
kill -TERM "$SERVER_PID"
for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER_PID" 2>/dev/null && die "pptp-tokio-server did not exit within 10 s"
server_rc=0; wait "$SERVER_PID" || server_rc=$?
SERVER_PID=""
[ "$server_rc" = 0 ] || die "pptp-tokio-server exited with $server_rc"

echo "--- pptp-tokio-server log"
cat "$SERVER_LOG"
echo "tokio-example: passed (session up with MPPE-128, 3 echoes through the tunnel, session down; wrong password refused with error 691)"
