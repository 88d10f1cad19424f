#!/usr/bin/env bash
# Runs ppp-core's AAA clients against real servers on 127.0.0.1:
#   - FreeRADIUS 3.2 (Debian package) via ../shared/aaa/start-freeradius.sh
#   - scripts/tacacs_test_server.py, a TACACS+ server built on the PyPI
#     `tacacs_plus` package (installed here with pip if missing)
# then `cargo test -p ppp-core --test radius_freeradius|tacacs_server -- --ignored`.
# Stops both servers on exit (by their recorded pids only). Needs root (apt).
# SHARED overrides the location of the shared harness (default ../shared/aaa
# next to the repository).
set -euo pipefail

ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
SHARED="${SHARED:-$ROOT/../shared/aaa}"
[ -f "$SHARED/lib.sh" ] || { echo "shared AAA harness not found at $SHARED (set SHARED)" >&2; exit 1; }
SHARED="$(cd "$SHARED" && pwd)"
# Our Access-Requests always carry Message-Authenticator: make FreeRADIUS
# drop any that lacks a valid one, so every accepted test proves ours.
export AAA_RADIUS_REQUIRE_MA="${AAA_RADIUS_REQUIRE_MA:-yes}"
# lib.sh sets the ports, secrets, users and AAA_DIR (set -euo pipefail too).
# shellcheck source=/dev/null
source "$SHARED/lib.sh"

TAC_PID=""
cleanup() {
  local rc=$?
  if [ -n "$TAC_PID" ] && kill -0 "$TAC_PID" 2>/dev/null; then
    kill "$TAC_PID" 2>/dev/null || true
    wait "$TAC_PID" 2>/dev/null || true
  fi
  "$SHARED/stop-freeradius.sh" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT INT TERM

# --- RADIUS ---------------------------------------------------------------
aaa_log "starting FreeRADIUS"
"$SHARED/start-freeradius.sh" >/dev/null
export AAA_RADIUS_AUTH_PORT AAA_RADIUS_ACCT_PORT AAA_RADIUS_SECRET AAA_USER AAA_PASS AAA_USER2 AAA_PASS2
export AAA_RADIUS_DETAIL="$AAA_FR_DIR/log/radacct/detail"

# --- TACACS+ --------------------------------------------------------------
if ! python3 -c 'import tacacs_plus' 2>/dev/null; then
  aaa_log "pip install tacacs_plus"
  python3 -m pip install -q tacacs_plus >&2
fi
mkdir -p "$AAA_TAC_DIR"
export AAA_TACACS_PORT AAA_TACACS_SECRET
export AAA_TACACS_ACCT_LOG="$AAA_TAC_DIR/acct.log"
export AAA_SHARED="$SHARED"
: > "$AAA_TACACS_ACCT_LOG"
python3 "$ROOT/scripts/tacacs_test_server.py" --host "$AAA_TACACS_ADDR" --port "$AAA_TACACS_PORT" \
  --key "$AAA_TACACS_SECRET" --acct-log "$AAA_TACACS_ACCT_LOG" > "$AAA_TAC_DIR/server.log" 2>&1 &
TAC_PID=$!
tac_up() { python3 -c "import socket; socket.create_connection(('$AAA_TACACS_ADDR', $AAA_TACACS_PORT), 0.2).close()"; }
aaa_wait "$TAC_PID" 10 tac_up || { cat "$AAA_TAC_DIR/server.log" >&2; aaa_die "TACACS+ test server did not start"; }
aaa_log "TACACS+ test server pid $TAC_PID on $AAA_TACACS_ADDR:$AAA_TACACS_PORT"

# --- tests ------------------------------------------------------------------
cd "$ROOT"
status=0
run() {
  local name=$1 log
  log="$(mktemp)"
  if cargo test -q -p ppp-core --test "$name" -- --ignored --test-threads=1 2>&1 | tee "$log"; then
    :
  else
    status=1
  fi
  summary+=("$name: $(grep -E '^test result' "$log" | tail -1)")
  rm -f "$log"
}
run_filtered() {
  local name=$1 filter=$2 label=$3 log
  log="$(mktemp)"
  if cargo test -q -p ppp-core --test "$name" -- --ignored --exact "$filter" 2>&1 | tee "$log"; then
    :
  else
    status=1
  fi
  summary+=("$label: $(grep -E '^test result' "$log" | tail -1)")
  rm -f "$log"
}
summary=()
run radius_freeradius
run tacacs_server

# Second FreeRADIUS pass as Debian ships it: replies without
# Message-Authenticator. The client must refuse every one (BlastRADIUS).
aaa_log "restarting FreeRADIUS without reply signing (stock 3.2.1 behaviour)"
AAA_RADIUS_REPLY_MA=no "$SHARED/start-freeradius.sh" >/dev/null
AAA_RADIUS_REPLY_MA=no run_filtered radius_freeradius reply_signature_policy_matches_server_config \
  "radius_freeradius (unsigned replies refused)"

# The test server counts packets whose encoding differs from tacacs_plus's.
conf=$(grep -c 'CONFORMANCE FAILURE' "$AAA_TAC_DIR/server.log" || true)
summary+=("tacacs_plus conformance failures: $conf")
[ "$conf" = 0 ] || status=1

echo
echo "== AAA summary =="
printf '  %s\n' "${summary[@]}"
[ "$status" = 0 ] && echo "  ALL PASSED" || echo "  FAILURES (see above)"
exit "$status"
