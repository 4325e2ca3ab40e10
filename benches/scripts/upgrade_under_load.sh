#!/usr/bin/env bash
# A binary upgrade under load: one Sekisho (release build) forwarding `test.`
# (1,000 names) to NSD, warmed, then dnsperf at $RATE q/s of cache hits for
# $PHASE seconds, `sekisho --take-over` (what `sekishoctl upgrade` starts)
# taking the sockets and the cache over, and $PHASE seconds more against the
# new process. Prints what dnsperf sent and lost over the whole run, how long
# the take-over took, and the cache-hit rate of the $PHASE seconds before
# the take-over (the old process's counters) and after it (the new one's,
# which start at zero). Loopback only (127.0.54.0/24); every run is bounded
# (-l and timeout).
#
# dnsperf and the daemons share the machine's cores: a run on a busy machine
# still counts lost queries truly, but the rates are not capacity.
# The measuring part holds flock /tmp/sekisho-bench.lock, shared with the
# other benchmarks, so two benchmarks never overlap (it waits for the lock).
#
# usage: benches/scripts/upgrade_under_load.sh [PHASE] [RATE]   (repo root, after
#        cargo build --release -p sekisho-resolver; default 60 s, 20000 q/s;
#        `upgrade_under_load.sh 5` is a smoke run; NEW_BIN=path takes over with
#        another build)
set -euo pipefail
PHASE=${1:-60}
RATE=${2:-20000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
# The build that takes over (default: the same one); another build of the same
# dump format keeps the cache.
NEW_BIN=${NEW_BIN:-$BIN/sekisho}
W=${TMPDIR:-/tmp}/sekisho-bench-upgrade
NSD=127.0.54.1
SK=127.0.54.2
for c in nsd dnsperf dig curl flock; do
  command -v $c >/dev/null || { echo "need $c (apt-get install nsd dnsperf dnsutils curl util-linux)"; exit 2; }
done
[ -x "$BIN/sekisho" ] || { echo "no $BIN/sekisho: cargo build --release -p sekisho-resolver"; exit 2; }
rm -rf "$W"; mkdir -p "$W"

. "$ROOT/benches/scripts/common.sh"
bench_test_zone "$W" $NSD 1000
cat > "$W/sekisho.toml" <<EOC
[server]
listen = ["$SK:5300"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$W"
[dnssec]
validation = "no"
[[forward-zone]]
name = "."
forward-addr = ["$NSD@5300"]
[control]
socket = "$W/control.sock"
[metrics]
listen = "$SK:9153"
[logging]
level = "info"
EOC
"$BIN/sekisho" check-config "$W/sekisho.toml" >/dev/null

bench_cleanup_on_exit

bench_lock
bench_refuse_if_busy $SK

nsd -d -c "$W/nsd.conf" > "$W/nsd.log" 2>&1 & pids+=($!)
"$BIN/sekisho" --config "$W/sekisho.toml" > "$W/sekisho-old.log" 2>&1 & old=$!; pids+=($old)
bench_warm $SK "$W"

timeout $((2 * PHASE + 60)) dnsperf -s $SK -p 5300 -d "$W/queries.txt" -l $((2 * PHASE + 2)) -Q "$RATE" \
  -q 2000 -c 8 -T 1 > "$W/dnsperf.out" 2>&1 & perf=$!
sleep 1
read -r h0 m0 < <(bench_counters $SK:9153)
sleep "$PHASE"
read -r h1 m1 < <(bench_counters $SK:9153)
t0=$(date +%s.%N)
"$NEW_BIN" --config "$W/sekisho.toml" --take-over > "$W/sekisho-new.log" 2>&1 &
new=$!; pids+=($new)
for _ in $(seq 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
t1=$(date +%s.%N)
wait "$old" && old_status=0 || old_status=$?
sleep "$PHASE"
read -r h2 m2 < <(bench_counters $SK:9153)
wait "$perf" || true

sent=$(awk '/Queries sent/ {print $3}' "$W/dnsperf.out")
lost=$(awk '/Queries lost/ {print $3}' "$W/dnsperf.out")
qps=$(awk '/Queries per second/ {print $4}' "$W/dnsperf.out")
echo "upgrade under load: dnsperf at $RATE q/s of cache hits, ${PHASE}s before and ${PHASE}s after the take-over"
echo "sent $sent, lost $lost (dnsperf: $qps q/s over the run)"
awk -v a="$t0" -v b="$t1" -v s="$old_status" 'BEGIN { printf "take-over: old process exited %s after %.2f s\n", s, b - a }'
awk -v h="$((h1 - h0))" -v m="$((m1 - m0))" 'BEGIN { printf "cache-hit rate before: %.4f (%d hits, %d misses)\n", (h + m) ? h / (h + m) : 0, h, m }'
awk -v h="$h2" -v m="$m2" 'BEGIN { printf "cache-hit rate after:  %.4f (%d hits, %d misses)\n", (h + m) ? h / (h + m) : 0, h, m }'
grep -h "saved cache loaded\|socket hand-over" "$W/sekisho-old.log" "$W/sekisho-new.log" | sed 's/^/  /' || true
[ "$old_status" = 0 ] && [ "${lost:-1}" = 0 ]
