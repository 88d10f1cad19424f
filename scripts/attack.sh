#!/usr/bin/env bash
# The internet-facing server under attack (issue #14), bounded:
#
#   sudo bash scripts/attack.sh                 # build, attack, check (CI)
#   SERVER_BIN=/path/to/old/pptp-server EXPECT=none sudo bash scripts/attack.sh
#                                               # figures of another build
#
# Two network namespaces created here (pta-srv-PID, pta-cli-PID) joined by
# a veth pair; the client side has two addresses: 10.0.4.2 for the
# legitimate pptp-client sessions and 10.0.4.3 for the attacker
# (scripts/attack/attacker.py). No traffic leaves them. pptp-server runs
# with its defaults (MS-CHAPv2 + MPPE-128 required, max_sessions 256, no
# [limits] table). In order:
#   1. a legitimate session comes up and pings through the tunnel;
#   2. spoof: forged GRE from the client's address, every call ID, runs of
#      three far-ahead sequence numbers (MPPE and LCP Terminate-Request
#      payloads); the session must stay up and keep passing pings;
#   3. preauth: 70 connections x 4 Outgoing-Call-Requests that never
#      authenticate, held; a second legitimate user must still get in;
#   4. guessing: pptp-load with a wrong password against the first user
#      for GUESS_SECS; counts the guesses the server took;
#   5. noread: 8 connections send Echo-Requests and never read for 10 s;
#      server RSS before and after, connections closed by the server;
#   6. connflood: 200 control connections from one address; how many the
#      server keeps; `pptp-server status` must answer meanwhile;
#   7. the first session still pings.
# Prints one FIGURES line per attack. With EXPECT=after (the default) each
# attack must be defeated as the issue asks, or the script fails; with
# EXPECT=none it only reports (for a build from before the fixes).
#
# Bounded: LIMIT seconds (240) after the build, each wait its own time-out.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIMIT="${LIMIT:-240}"
EXPECT="${EXPECT:-after}"
GUESS_SECS="${GUESS_SECS:-8}"
NS_SRV="pta-srv-$$"
NS_CLI="pta-cli-$$"
VETH_SRV="ptas$$"
VETH_CLI="ptac$$"
SRV_IP=10.0.4.1
CLI_IP=10.0.4.2
ATT_IP=10.0.4.3
TUN_ADDR=10.204.0.1
TUN=pta$$

log() { printf '[attack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'attack: ERROR: %s\n' "$*" >&2; exit 2; }
# shellcheck source=lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"
figures() { printf 'FIGURES %s\n' "$*"; }
expect() {  # CONDITION-STATUS MESSAGE: fail on it unless EXPECT=none
  if [ "$1" != 0 ]; then
    if [ "$EXPECT" = none ]; then log "(not defeated) $2"; else die "$2"; fi
  fi
}

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, raw GRE sockets, TUN)"
command -v ip >/dev/null || die "missing tool: ip"
command -v python3 >/dev/null || die "missing tool: python3"

if [ -z "${SERVER_BIN:-}" ] || [ -z "${CLIENT_BIN:-}" ] || [ -z "${LOAD_BIN:-}" ]; then
  log "building pptp-server, pptp-client and pptp-load (release)"
  (cd "$ROOT" && cargo build --release -q -p pptp-vpn --bin pptp-server --bin pptp-client --bin pptp-load) \
    || die "cargo build failed"
fi
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/pptp-server}"
CLIENT_BIN="${CLIENT_BIN:-$ROOT/target/release/pptp-client}"
LOAD_BIN="${LOAD_BIN:-$ROOT/target/release/pptp-load}"
ATTACKER="$ROOT/scripts/attack/attacker.py"
PING="$ROOT/scripts/interop/ping.py"

WORK="$(mktemp -d /tmp/pptp-attack.XXXXXX)"
CONF="$WORK/server.toml"
SERVER_PID=""
CLIENT_PID=""
CLIENT2_PID=""
BG_PID=""
WATCHDOG_PID=""
NS_CREATED=0

cleanup() {
  local rc=$?
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null || true
  stop_pid "$BG_PID"
  stop_pid "$CLIENT2_PID"
  stop_pid "$CLIENT_PID"
  stop_pid "$SERVER_PID"
  if [ "$NS_CREATED" = 1 ]; then
    ip netns del "$NS_CLI" 2>/dev/null || true
    ip netns del "$NS_SRV" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ]; then
    for f in "$WORK"/*.log; do
      [ -s "$f" ] && { echo "--- $f (last 30 lines)" >&2; tail -30 "$f" >&2; }
    done
  fi
  if [ "${KEEP:-0}" = 1 ] || [ "$rc" != 0 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'log "time limit of $LIMIT s reached"; exit 124' TERM
start_watchdog "$LIMIT"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
status() { timeout 15 ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" status; }
ping_through() {  # COUNT: echoes from the client namespace to the server's tunnel address
  { timeout 20 ip netns exec "$NS_CLI" python3 "$PING" "$TUN_ADDR" "$1" 2 2>&1 || true; } | tail -2
}
start_client() {  # USER PASSWORD TUN LOG: pptp-client from CLI_IP; prints its PID
  ip netns exec "$NS_CLI" env PPTP_PASSWORD="$2" "$CLIENT_BIN" --server "$SRV_IP" \
    --user "$1" --auth mschap-v2 --mppe 128 --mppe-required --retries 0 --tun "$3" 2> "$4" > /dev/null &
  echo $!
}

# ---- namespaces and server ------------------------------------------------------
netns_pair "$NS_SRV" "$NS_CLI" "$VETH_SRV" "$VETH_CLI" "$SRV_IP/24" "$CLI_IP/24"
ip -n "$NS_CLI" addr add "$ATT_IP/24" dev "$VETH_CLI"

cat > "$CONF" <<TOML
listen = "$SRV_IP:1723"
local_address = "$TUN_ADDR"
pool = { first = "10.204.0.10", last = "10.204.1.9" }
auth = ["mschap-v2"]
mppe = "128"
mppe_required = true
mppe_mode = "stateless"
keepalive_secs = 60
max_sessions = 256
tun_name = "$TUN"
mtu = 1396
host_name = "pptp-server"
control_socket = "$WORK/control.sock"

[[users]]
name = "alice"
password = "alice-pass"

[[users]]
name = "bob"
password = "bob-pass"
TOML
log "starting pptp-server in $NS_SRV"
ip netns exec "$NS_SRV" "$SERVER_BIN" --config "$CONF" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 100); do status >/dev/null 2>&1 && break; sleep 0.1; done
status >/dev/null 2>&1 || die "pptp-server did not start"

# ---- 1. a legitimate session ------------------------------------------------------
CLIENT_PID=$(start_client alice alice-pass ptaa0 "$WORK/client.log")
wait_for 15 "$WORK/client.log" 'IPCP up' "alice's session"
ping_through 3 | tee "$WORK/ping0.txt" >&2
grep -q '3 packets transmitted, 3 received' "$WORK/ping0.txt" || die "no pings before the attacks"

# ---- 2. blind GRE spoofing ------------------------------------------------------------
log "spoof: forged GRE from $CLI_IP, every call ID"
ip netns exec "$NS_CLI" timeout 60 python3 "$ATTACKER" spoof "$CLI_IP" "$SRV_IP" | tee "$WORK/spoof.txt" >&2
sleep 1
ping_through 3 | tee "$WORK/ping1.txt" >&2
alive=0; kill -0 "$CLIENT_PID" 2>/dev/null && grep -q '3 packets transmitted, 3 received' "$WORK/ping1.txt" && alive=1
unproven=$(status | sed -n 's/.*GRE packets that proved nothing \([0-9]*\).*/\1/p')
figures "spoof: $(cat "$WORK/spoof.txt"); session alive and passing pings: $alive (sessions killed $(( 1 - alive ))/1); server counted ${unproven:-?} unproven"
expect $(( 1 - alive )) "the forged GRE flood ended or stalled the session"

# ---- 3. pre-authentication exhaustion -----------------------------------------------
log "preauth: 70 connections x 4 calls from $ATT_IP, held"
ip netns exec "$NS_CLI" env HOLD=12 timeout 90 python3 "$ATTACKER" preauth "$ATT_IP" "$SRV_IP" 70 4 \
  > "$WORK/preauth.txt" 2>&1 &
BG_PID=$!
wait_for 60 "$WORK/preauth.txt" '^preauth:' "the pre-authentication flood"
CLIENT2_PID=$(start_client bob bob-pass ptab0 "$WORK/client2.log")
legit=0
for _ in $(seq 1 100); do
  grep -q 'IPCP up' "$WORK/client2.log" && { legit=1; break; }
  kill -0 "$CLIENT2_PID" 2>/dev/null || break
  sleep 0.1
done
figures "preauth: $(cat "$WORK/preauth.txt"); a legitimate user got in meanwhile: $legit (legit clients refused $(( 1 - legit ))/1)"
expect $(( 1 - legit )) "a legitimate user was refused while unauthenticated calls were held"
stop_pid "$CLIENT2_PID"; CLIENT2_PID=""
wait "$BG_PID" 2>/dev/null || true; BG_PID=""

# ---- 4. password guessing ------------------------------------------------------------
log "guessing: wrong passwords for alice for $GUESS_SECS s"
failed0=$(grep -c 'authentication of "alice" failed' "$WORK/server.log" || true)
ip netns exec "$NS_CLI" timeout "$GUESS_SECS" "$LOAD_BIN" --server "$SRV_IP:1723" -n 60000 -k 64 \
  --user alice --password wrong --handshake-timeout 5 > "$WORK/guess.out" 2> "$WORK/guess.log" || true
sleep 1
status > "$WORK/status-guess.txt" || true
guesses=$(sed -n 's/^Logins: failed \([0-9]*\),.*/\1/p' "$WORK/status-guess.txt")
if [ -z "$guesses" ]; then  # a build without the counter: its log has a line per failure
  guesses=$(( $(grep -c 'authentication of "alice" failed' "$WORK/server.log" || true) - failed0 ))
fi
rate=$(( guesses / GUESS_SECS ))
figures "guessing: $guesses wrong passwords tested in $GUESS_SECS s ($rate/s); log $(wc -c < "$WORK/server.log") octets"
bad=0; [ "$rate" -le 10 ] || bad=1; expect "$bad" "the server tested $rate guesses per second"

# ---- 5. a peer that never reads ------------------------------------------------------
rss0=$(rss_kib "$SERVER_PID")
log "noread: 8 connections, Echo-Requests for 10 s, never read (server RSS $rss0 KiB)"
ip netns exec "$NS_CLI" timeout 60 python3 "$ATTACKER" noread "$ATT_IP" "$SRV_IP" 8 10 | tee "$WORK/noread.txt" >&2
rss1=$(rss_kib "$SERVER_PID")
sleep 3
rss2=$(rss_kib "$SERVER_PID")
figures "noread: $(cat "$WORK/noread.txt"); server RSS $rss0 -> $rss1 KiB (3 s later $rss2 KiB)"
bad=0; [ $(( rss1 - rss0 )) -le 16384 ] || bad=1; expect "$bad" "server RSS grew by $(( rss1 - rss0 )) KiB under non-reading peers"

# ---- 6. connection flood from one address -------------------------------------------
log "connflood: 200 control connections from $ATT_IP"
ip netns exec "$NS_CLI" timeout 60 python3 "$ATTACKER" connflood "$ATT_IP" "$SRV_IP" 200 > "$WORK/connflood.txt" 2>&1 &
BG_PID=$!
sleep 2
t0=$(date +%s%N)
status_ok=0; status > "$WORK/status-flood.txt" && status_ok=1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$BG_PID" 2>/dev/null || true; BG_PID=""
answered=$(sed -n 's/.*: \([0-9]*\) answered.*/\1/p' "$WORK/connflood.txt")
figures "connflood: $(cat "$WORK/connflood.txt"); status answered during the flood: $status_ok in $ms ms"
expect $(( 1 - status_ok )) "status did not answer during the connection flood"
bad=0; [ "${answered:-999}" -le 32 ] || bad=1; expect "$bad" "one address kept ${answered:-?} control connections"

# ---- 7. the first session survived all of it ------------------------------------------
ping_through 3 | tee "$WORK/ping2.txt" >&2
alive=0; kill -0 "$CLIENT_PID" 2>/dev/null && grep -q '3 packets transmitted, 3 received' "$WORK/ping2.txt" && alive=1
figures "after all attacks: alice's session alive and passing pings: $alive"
expect $(( 1 - alive )) "alice's session did not survive the attacks"
log "done"
