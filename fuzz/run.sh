#!/usr/bin/env bash
# Build the AFL++ targets, seed one target's corpus and fuzz it for a while.
#
#   fuzz/run.sh TARGET SECONDS
#
# TARGET is one of: query zonefile xfr tsig notify update http_head proxy. Needs cargo-afl
# (`cargo install cargo-afl`; see README.md). The queue and findings go to
# fuzz/corpus/out/TARGET/default/ (not committed); a new run starts afresh unless
# FUZZ_RESUME=1 is set. Prints the run count and the crashes found, and exits 1
# when there are crashes.
set -euo pipefail

usage() { echo "usage: $0 TARGET SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
target=$1
seconds=$2
case "$target" in
  query|zonefile|xfr|tsig|notify|update|http_head|proxy) ;;
  *) echo "unknown target: $target" >&2; usage ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
bin_dir="${CARGO_TARGET_DIR:-$here/target}/release"

cargo afl build --release --quiet

# Seeds: generated messages and the zone files of testdata/, plus any inputs kept
# in testdata/fuzz/TARGET/ (minimised crashes turned regression tests).
seeds="$here/corpus/seeds"
rm -rf "$seeds/$target"
"$bin_dir/seeds" "$seeds" >/dev/null
if [ -d "$here/../testdata/fuzz/$target" ]; then
  cp "$here/../testdata/fuzz/$target"/* "$seeds/$target/" 2>/dev/null || true
fi

out="$here/corpus/out/$target"
if [ "${FUZZ_RESUME:-0}" = 1 ]; then
  export AFL_AUTORESUME=1
else
  rm -rf "$out"
fi
mkdir -p "$out"

dict=()
if [ -f "$here/dict/$target.dict" ]; then
  dict=(-x "$here/dict/$target.dict")
fi

# No UI (logs instead); other jobs share the cores, so no CPU binding; the
# machine's core_pattern and CPU governor are not ours to change.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
log="$out.log"
echo "fuzzing $target for ${seconds}s (log: $log)"
cargo afl fuzz -V "$seconds" -i "$seeds/$target" -o "$out" "${dict[@]}" \
  -- "$bin_dir/$target" >"$log" 2>&1 || {
  echo "afl-fuzz failed; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
}

stats="$out/default/fuzzer_stats"
stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
echo "target:       $target"
echo "run time:     $(stat run_time) s"
echo "execs_done:   $(stat execs_done)"
echo "execs/s:      $(awk -v e="$(stat execs_done)" -v t="$(stat run_time)" 'BEGIN { if (t > 0) printf "%.0f", e / t; else print 0 }')"
echo "corpus_count: $(stat corpus_count)"
echo "coverage:     $(stat bitmap_cvg)"
echo "crashes:      $(stat saved_crashes)"
echo "hangs:        $(stat saved_hangs)"
crashes=$(find "$out/default/crashes" -type f -name 'id:*' 2>/dev/null | sort)
if [ -n "$crashes" ]; then
  echo "crashing inputs (replay: $bin_dir/$target < FILE):"
  echo "$crashes"
  exit 1
fi
