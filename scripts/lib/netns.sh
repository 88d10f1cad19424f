# Shared by the scripts that run the hosts in network namespaces they
# create (tokio-example.sh, scale.sh, attack.sh). Sourced, not run.
#
# The caller defines log() and die() and sets NS_CREATED=0 before calling
# netns_pair; its cleanup deletes the namespaces only when NS_CREATED=1
# (never another run's).

stop_pid() {  # PID [SECONDS]: TERM, wait up to SECONDS (5), then KILL
  local p=$1 secs=${2:-5}
  [ -n "$p" ] || return 0
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 $(( secs * 10 ))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

start_watchdog() {  # LIMIT: TERM this script after LIMIT seconds; sets WATCHDOG_PID
  # The watchdog's sleep ends with it, so nothing outlives the script.
  ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$1" & s=$!
    wait "$s" && kill -TERM $$ 2>/dev/null ) &
  WATCHDOG_PID=$!
}

wait_for() {  # SECONDS FILE REGEX WHAT: poll FILE for REGEX, or die
  local secs=$1 file=$2 regex=$3 what=$4
  for _ in $(seq 1 $(( secs * 10 ))); do
    grep -Eq "$regex" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$what: not within $secs s"
}

netns_pair() {  # NS_A NS_B VETH_A VETH_B ADDR_A/LEN ADDR_B/LEN: two namespaces joined by a veth pair
  local a=$1 b=$2 va=$3 vb=$4
  for ns in "$a" "$b"; do
    if ip netns list | grep -qw "$ns"; then die "namespace $ns exists (another run?)"; fi
  done
  NS_CREATED=1
  ip netns add "$a"
  ip netns add "$b"
  ip link add "$va" type veth peer name "$vb"
  ip link set "$va" netns "$a"
  ip link set "$vb" netns "$b"
  ip -n "$a" addr add "$5" dev "$va"
  ip -n "$b" addr add "$6" dev "$vb"
  for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
  ip -n "$a" link set "$va" up
  ip -n "$b" link set "$vb" up
}
