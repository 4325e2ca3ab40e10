# Shell functions the Sekisho-alone benchmark scripts share (sourced, not run):
# the bench lock, an NSD serving a generated `test.` zone, and the process's
# cache counters. Loopback only; every caller bounds its runs.

# Wait for /tmp/sekisho-bench.lock (held on fd 9 until the caller exits), so
# two benchmarks never measure at once.
bench_lock() {
  exec 9> /tmp/sekisho-bench.lock
  if ! flock -n 9; then echo "waiting for /tmp/sekisho-bench.lock (another benchmark is measuring)"; flock 9; fi
}

# bench_test_zone DIR ADDR N: DIR/test.zone with N names host0..host(N-1) (A
# records), DIR/queries.txt asking each once, and DIR/nsd.conf serving the
# zone on ADDR@5300.
bench_test_zone() {
  local dir=$1 addr=$2 n=$3
  { echo '$ORIGIN test.'; echo '$TTL 86400'; echo '@ SOA ns hostmaster 1 3600 600 86400 60'; echo '@ NS ns'; echo "ns A $addr"
    for i in $(seq 0 $((n - 1))); do echo "host$i A 192.0.2.$((i % 250 + 1))"; done; } > "$dir/test.zone"
  for i in $(seq 0 $((n - 1))); do echo "host$i.test A"; done > "$dir/queries.txt"
  cat > "$dir/nsd.conf" <<EOC
server:
  ip-address: $addr@5300
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$dir/zone.list"
  xfrdfile: "$dir/xfrd.state"
  pidfile: "$dir/nsd.pid"
remote-control:
  control-enable: no
zone:
  name: "test."
  zonefile: "$dir/test.zone"
EOC
}

# bench_counters METRICS_ADDR: "hits misses" of the process answering there now,
# summed over labels.
bench_counters() {
  curl -s --max-time 5 "http://$1/metrics" \
    | awk '/^sekisho_cache_hits_total/ {h += $NF} /^sekisho_cache_misses_total/ {m += $NF} END {printf "%d %d\n", h, m}'
}

# bench_hit_rate LABEL H0 M0 H1 M1: the hit rate between two bench_counters readings.
bench_hit_rate() {
  awk -v l="$1" -v h="$(($4 - $2))" -v m="$(($5 - $3))" \
    'BEGIN { printf "%s: cache-hit rate %.4f (%d hits, %d misses)\n", l, (h + m) ? h / (h + m) : 0, h, m }'
}

# Kill every pid the caller added to `pids` when it exits (normally or by a signal).
pids=()
bench_cleanup_on_exit() {
  trap 'set +e; for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null' EXIT
  trap 'exit 130' INT TERM
}

# bench_refuse_if_busy ADDR: exit 3 when something already answers on ADDR port 5300.
bench_refuse_if_busy() {
  if dig +time=1 +tries=1 @"$1" -p 5300 . SOA >/dev/null 2>&1; then
    echo "something already answers on $1:5300; refusing"; exit 3
  fi
}

# bench_warm ADDR DIR: wait (up to 10 s) until ADDR:5300 answers host0.test, then
# ask every name of DIR/queries.txt twice, so that a run after it is cache hits only.
bench_warm() {
  for _ in $(seq 100); do dig +time=1 +tries=1 @"$1" -p 5300 host0.test A >/dev/null 2>&1 && break; sleep 0.1; done
  for _ in 1 2; do timeout 60 dnsperf -s "$1" -p 5300 -d "$2/queries.txt" -n 1 -q 100 > /dev/null 2>&1 || true; done
}
