#!/usr/bin/env bash
# Long fuzz runs of every cargo-fuzz target (issue 6): each target runs for
# MINUTES (default 10) on a corpus kept outside the clone
# (FUZZ_DIR, default /var/tmp/pptp-fuzz) so later runs start where earlier
# ones stopped, seeded from ../shared/vectors, with the target's
# dictionary (fuzz/dict). Prints one line per target: executions, run
# time, edge coverage (cov), features (ft), corpus size, and whether it
# crashed. Any crash fails the script; the reproducer is in
# FUZZ_DIR/artifacts/<target>/.
#
#   bash scripts/fuzz-long.sh                 # all targets, 10 min each
#   MINUTES=2 TARGETS="gre_packet ppp_link" bash scripts/fuzz-long.sh
#   NICE=19 ...                               # run at low priority
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
MINUTES="${MINUTES:-10}"
FUZZ_DIR="${FUZZ_DIR:-/var/tmp/pptp-fuzz}"
NICE="${NICE:-0}"

die() { printf 'fuzz-long: ERROR: %s\n' "$*" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || die "cargo-fuzz is not installed (cargo install --locked cargo-fuzz)"
rustup toolchain list | grep -q '^nightly' || die "the nightly toolchain is required"
[ -d "$SHARED/vectors" ] || die "vectors not found at $SHARED/vectors (set SHARED=)"

cd "$ROOT/fuzz"
targets="${TARGETS:-$(cargo +nightly fuzz list)}"
cargo +nightly fuzz build -O >&2
python3 seed_corpus.py "$SHARED/vectors" "$FUZZ_DIR/corpus" $targets >&2

summary="$FUZZ_DIR/summary-$(date +%Y%m%d-%H%M%S).txt"
printf '%-24s %12s %8s %7s %7s %7s %s\n' target executions seconds cov ft corpus result | tee "$summary"
failed=0
for t in $targets; do
  log="$FUZZ_DIR/logs/$t.log"
  mkdir -p "$FUZZ_DIR/logs" "$FUZZ_DIR/artifacts/$t"
  dict=()
  [ -e "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
  result=ok
  if ! nice -n "$NICE" cargo +nightly fuzz run -O "$t" "$FUZZ_DIR/corpus/$t" -- \
      -max_total_time=$((MINUTES * 60)) -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$FUZZ_DIR/artifacts/$t/" "${dict[@]}" >"$log" 2>&1; then
    result="CRASH (see $log)"
    failed=$((failed + 1))
  fi
  # (grep finds nothing in a log cut short: not an error here.)
  execs=$({ grep -E '^stat::number_of_executed_units' "$log" || true; } | awk '{print $2}' | tail -1)
  secs=$({ grep -E '^Done [0-9]+ runs in' "$log" || true; } | awk '{print $5}' | tail -1)
  last=$({ grep -E '#[0-9]+.*(cov|ft):' "$log" || true; } | tail -1)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  corpus=$(find "$FUZZ_DIR/corpus/$t" -type f | wc -l)
  printf '%-24s %12s %8s %7s %7s %7s %s\n' "$t" "${execs:-?}" "${secs:--}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$result" | tee -a "$summary"
done
echo "summary: $summary"
[ "$failed" = 0 ] || die "$failed target(s) crashed"
