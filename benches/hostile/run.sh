#!/usr/bin/env bash
# Hostile-traffic mix, side by side: Sekisho, Unbound, BIND (named) and
# PowerDNS Recursor on loopback, each recursing over the mini-internet
# (testdata/mini-internet, validating from its trust anchor) while
# legitimate clients send a fixed rate of cache hits and cache misses and,
# one scenario at a time, a hostile client does something else:
#
#   base     nothing (the reference)
#   sink     random-subdomain flood (FLOOD_QPS, default 20000 q/s, sent at a
#            fixed rate without waiting for answers, as an attacker does) under
#            sink.example, whose only server reads every packet and never answers
#   slow     the same flood under slow.example, whose server answers every
#            query after 500-1000 ms
#   crafted  CRAFT_QPS (default 2000 q/s) of random names under keytrap.test
#            (32 DNSKEYs sharing one key tag, 32 bogus RRSIGs with that tag on
#            the wildcard answer and on the DNSKEY set) and under n3.test
#            (NSEC3, 150 iterations, 5000 names: every answer an NXDOMAIN proof)
#   tcp      TCP_CLIENTS (default 2000) TCP connections that send one query and
#            never read
#   heavy    one client address sending HEAVY_QPS (default 50000 q/s) of cache
#            hits (dnsperf -a, which waits for answers: at most 2000 outstanding)
#
# For each pass (default, tuned), resolver and scenario: a freshly started
# resolver, the hit names warmed, the hostile traffic started, RAMP seconds,
# then a WINDOW-second measurement: the legitimate clients' answers (share,
# p50/p99 latency, hits and misses apart), and the resolver's RSS, open
# descriptors and CPU seconds from /proc. Raw results go to
# $OUT/raw/<pass>/<resolver>/<scenario>/; summarise.py prints the tables.
#
# usage: benches/hostile/run.sh            (as root, from anywhere)
#   env: SEKISHO_BIN (default <repo>/target/release/sekisho)
#        OUT (default <repo>/benches/results/<UTC date>-hostile)
#        RESOLVERS ("sekisho unbound bind pdns"), PASSES ("default tuned"),
#        SCENARIOS ("base sink slow crafted tcp heavy"), WINDOW (20), RAMP (3),
#        FLOOD_QPS (20000), CRAFT_QPS (2000), HEAVY_QPS (50000), TCP_CLIENTS (2000),
#        HIT_RATE (200), MISS_RATE (50), THREADS (2),
#        MISS_ZONES ("wild.corp.example,wild.secure.test": the wildcard zones
#        the legitimate misses go to),
#        SEKISHO_SERVER (lines added to Sekisho's [server] table, e.g.
#        'fetches-per-server = 0' to measure one setting)
# Loopback only. Needs root (port 53, `ip addr add` on lo), named, nsd,
# dnssec-signzone, unbound, pdns_recursor, dnsperf, dig, python3 with the
# `cryptography` module. Holds /tmp/sekisho-bench.lock (shared with the other
# benchmarks) and the mini-internet lock the resolver tests use.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SEKISHO_BIN=${SEKISHO_BIN:-$ROOT/target/release/sekisho}
OUT=${OUT:-$ROOT/benches/results/$(date -u +%F)-hostile}
# Never write over an earlier run's results: a second run the same day gets the time too.
[ -e "$OUT" ] && OUT="$OUT-$(date -u +%H%M)"
RESOLVERS=${RESOLVERS:-"sekisho unbound bind pdns"}
PASSES=${PASSES:-"default tuned"}
SCENARIOS=${SCENARIOS:-"base sink slow crafted tcp heavy"}
WINDOW=${WINDOW:-20}
RAMP=${RAMP:-3}
FLOOD_QPS=${FLOOD_QPS:-20000}
CRAFT_QPS=${CRAFT_QPS:-2000}
HEAVY_QPS=${HEAVY_QPS:-50000}
TCP_CLIENTS=${TCP_CLIENTS:-2000}
HIT_RATE=${HIT_RATE:-200}
MISS_RATE=${MISS_RATE:-50}
THREADS=${THREADS:-2}
W=${TMPDIR:-/tmp}/sekisho-hostile
MI_LOCK=/tmp/sekisho-mini-internet.lock.d
BENCH_LOCK=/tmp/sekisho-bench.lock
TOOLS="python3 $HERE/tools.py"

# addresses: resolvers, hostile authorities, clients (each client its own source)
declare -A ADDR=([sekisho]=127.0.61.1 [unbound]=127.0.61.2 [bind]=127.0.61.3 [pdns]=127.0.61.4)
SINK=127.0.21.1
SLOW=127.0.21.2
CRAFT=127.0.21.3
LEGIT_SRC=127.0.70.1
FLOOD_SRC=127.0.71.1
TCP_SRC=127.0.72.1
HEAVY_SRC=127.0.73.1

for c in named nsd dnssec-signzone unbound pdns_recursor dnsperf dig flock ip python3 timeout; do
  command -v $c >/dev/null || { echo "need $c"; exit 2; }
done
python3 -c 'import cryptography' 2>/dev/null || { echo "need python3 cryptography (pip install cryptography)"; exit 2; }
[ -x "$SEKISHO_BIN" ] || { echo "no $SEKISHO_BIN: cargo build --release -p sekisho-resolver, or set SEKISHO_BIN"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (port 53, loopback addresses)"; exit 2; }

# --- state and cleanup ------------------------------------------------------
server_pid=""
attack_pid=""
sampler_pid=""
bg_pids=()
mi_started=0
added_addrs=()
have_mi_lock=0
kill_pid() { # pid: TERM, up to 5 s, then KILL
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
stop_server() { if [ -n "$server_pid" ]; then kill_pid "$server_pid"; server_pid=""; fi; }
cleanup() {
  set +e
  stop_server
  for p in $attack_pid $sampler_pid "${bg_pids[@]}"; do kill_pid "$p"; done
  [ "$mi_started" = 1 ] && KEEP_ADDRS=1 bash "$W/mi/stop.sh" >/dev/null
  for a in "${added_addrs[@]}"; do ip addr del "$a/32" dev lo 2>/dev/null; done
  if [ "$have_mi_lock" = 1 ] && [ "$(cat "$MI_LOCK/pid" 2>/dev/null)" = "$$" ]; then rm -rf "$MI_LOCK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

answers() { dig +time=1 +tries=1 @"$1" "$2" "${3:-SOA}" >/dev/null 2>&1; }
take_mi_lock() { # the resolver tests' protocol: mkdir is atomic, pid inside, a dead owner's lock is stale
  local until=$((SECONDS + 300)) owner
  while :; do
    if mkdir "$MI_LOCK" 2>/dev/null; then echo $$ > "$MI_LOCK/pid"; have_mi_lock=1; return 0; fi
    owner=$(cat "$MI_LOCK/pid" 2>/dev/null || true)
    if [ -n "$owner" ] && [ ! -d "/proc/$owner" ]; then rm -rf "$MI_LOCK"; continue; fi
    [ $SECONDS -lt $until ] || { echo "mini-internet lock held by pid ${owner:-?} for 5 minutes; giving up"; exit 3; }
    sleep 0.5
  done
}
add_addr() { # BIND listens only on addresses configured on an interface
  ip -4 -o addr show dev lo | grep -qF " $1/32 " && return 0
  ip addr add "$1/32" dev lo && added_addrs+=("$1")
}

# --- the world: mini-internet plus the hostile zones ---------------------------
rm -rf "$W"; mkdir -p "$W" "$OUT/raw"
exec 9> "$BENCH_LOCK"
if ! flock -n 9; then echo "waiting for $BENCH_LOCK (another benchmark is measuring)"; flock 9; fi
take_mi_lock
answers 127.0.20.1 . && { echo "something already answers on 127.0.20.1:53 (testdata/mini-internet/stop.sh?); refusing"; exit 3; }
for a in "${ADDR[@]}" $SINK $SLOW $CRAFT; do answers "$a" . && { echo "something already answers on $a:53; refusing"; exit 3; }; done

echo "$(date -u +%T) building zones"
MI=$W/mi
mkdir -p "$MI"
(cd "$ROOT/testdata/mini-internet" && tar --exclude=./run --exclude=./auth/zones -cf - .) | (cd "$MI" && tar -xf -)
$TOOLS mkzones --dir "$W/crafted" --addr $CRAFT > "$W/mkzones.txt"
{ echo "; hostile-traffic benchmark: KeyTrap and NSEC3 children"; cat "$W/crafted/parent-additions.txt"; } >> "$MI/zones-src/test.zone"
cat >> "$MI/zones-src/example.zone" <<EOZ
; hostile-traffic benchmark: a zone whose server never answers, one whose server is slow
sink             NS    ns.sink.example.
ns.sink          A     $SINK
slow             NS    ns.slow.example.
ns.slow          A     $SLOW
EOZ
(cd "$MI" && bash build.sh >/dev/null)

LOADDRS=$(ip -4 -o addr show dev lo)
for i in 1 2 3 4 5 6 7 8 9; do
  grep -qF " 127.0.20.$i/32 " <<<"$LOADDRS" || added_addrs+=("127.0.20.$i")
done
mi_started=1
(cd "$MI" && bash start.sh >/dev/null 9>&-)
add_addr "${ADDR[bind]}"

mkdir -p "$W/nsd"
cat > "$W/nsd/nsd.conf" <<EOC
server:
  ip-address: $CRAFT
  port: 53
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$W/nsd/zone.list"
  xfrdfile: "$W/nsd/xfrd.state"
  xfrdir: "$W/nsd"
  pidfile: "$W/nsd/nsd.pid"
  logfile: "$W/nsd/nsd.log"
  verbosity: 0
  tcp-count: 1000
remote-control:
  control-enable: no
zone:
  name: "keytrap.test."
  zonefile: "$W/crafted/keytrap.test.zone"
zone:
  name: "n3.test."
  zonefile: "$W/crafted/n3.test.zone"
EOC
nsd -d -c "$W/nsd/nsd.conf" > "$W/nsd/stderr" 2>&1 9>&- & bg_pids+=($!)
$TOOLS sink --addr $SINK --max-seconds 3600 > "$W/sink.log" 2>&1 9>&- & bg_pids+=($!)
$TOOLS slowauth --addr $SLOW --zone slow.example --max-seconds 3600 > "$W/slowauth.log" 2>&1 9>&- & bg_pids+=($!)
for _ in $(seq 1 50); do answers $CRAFT keytrap.test && break; sleep 0.2; done
answers $CRAFT keytrap.test || { echo "nsd did not come up on $CRAFT"; cat "$W/nsd/stderr"; exit 1; }

# query files
cat > "$W/hits.txt" <<EOQ
www.corp.example A
mail.corp.example A
multi.corp.example A
corp.example MX
ns1.example A
www.secure.test A
mail.secure.test A
txt.secure.test TXT
secure.test MX
www.test A
EOQ
MISS_ZONES=${MISS_ZONES:-wild.corp.example,wild.secure.test}
ATTACK_S=$((RAMP + WINDOW + 3))

# --- resolvers -------------------------------------------------------------------
DS=$(awk '{print $(NF-3), $(NF-2), $(NF-1), $NF}' "$MI/trust/root.ds")
write_conf() { # resolver pass dir
  local r=$1 pass=$2 d=$3 a=${ADDR[$1]}
  mkdir -p "$d"
  case $r in
  sekisho)
    cat > "$d/sekisho.toml" <<EOC
[server]
listen = ["$a:53"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$d/state"
threads = $THREADS
root-hints = "$MI/hints/root.hints"
${SEKISHO_SERVER:-}
[dnssec]
validation = "yes"
trust-anchor-file = "$MI/trust/root.ds"
[control]
socket = "$d/sekisho.sock"
[metrics]
listen = "$a:9153"
[logging]
level = "warn"
EOC
    if [ "$pass" = tuned ]; then
      # the per-client rate limit is off by default and exempts loopback: on, nothing exempt;
      # slip 0 as docs/config.md advises where only subscribers behind source-address
      # validation reach the resolver (a TC=1 slip makes a flooding client send again at once)
      printf '[rate-limit]\nqueries-per-second = 1000\nslip = 0\nexempt = []\n' >> "$d/sekisho.toml"
    fi
    mkdir -p "$d/state"
    "$SEKISHO_BIN" check-config "$d/sekisho.toml" >/dev/null
    ;;
  unbound)
    cat > "$d/unbound.conf" <<EOC
server:
  interface: $a@53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$d"
  pidfile: "$d/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: $THREADS
  so-reuseport: yes
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "validator iterator"
  root-hints: "$MI/hints/root.hints"
  trust-anchor-file: "$MI/trust/root.ds"
  local-zone: "test." nodefault
EOC
    if [ "$pass" = tuned ]; then
      printf '  ratelimit: 1000\n  ip-ratelimit: 1000\n' >> "$d/unbound.conf"
    fi
    printf 'remote-control:\n  control-enable: no\n' >> "$d/unbound.conf"
    unbound-checkconf "$d/unbound.conf" >/dev/null
    ;;
  bind)
    local tune=""
    [ "$pass" = tuned ] && tune="fetches-per-zone 200; fetches-per-server 400;"
    cat > "$d/named.conf" <<EOC
options {
  directory "$d";
  pid-file "$d/named.pid";
  session-keyfile "$d/session.key";
  managed-keys-directory "$d";
  listen-on port 53 { $a; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { 127.0.0.0/8; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation yes;
  empty-zones-enable no;
  notify no;
  $tune
};
controls { };
include "$MI/trust/bind-trust-anchors.conf";
logging {
  channel f { file "$d/named.log" versions 1 size 20m; print-time yes; severity notice; };
  category default { f; }; category lame-servers { null; }; category resolver { null; };
  category dnssec { null; };
};
zone "." { type hint; file "$MI/hints/root.hints"; };
EOC
    named-checkconf "$d/named.conf" >/dev/null 2>&1 || named-checkconf "$d/named.conf"
    ;;
  pdns)
    # PowerDNS Recursor's defaults already bound per-query work, TCP clients and
    # signature checks: the tuned pass uses the same configuration.
    cat > "$d/recursor.conf" <<EOC
local-address=$a
local-port=53
daemon=no
socket-dir=$d
threads=$THREADS
dont-query=
allow-from=127.0.0.0/8
hint-file=$MI/hints/root.hints
dnssec=validate
lua-config-file=$d/conf.lua
disable-syslog=yes
loglevel=3
quiet=yes
EOC
    echo "addTA('.', '$DS')" > "$d/conf.lua"
    ;;
  esac
}
start_server() { # resolver dir
  local r=$1 d=$2 a=${ADDR[$1]}
  case $r in
    sekisho) "$SEKISHO_BIN" --config "$d/sekisho.toml" > "$d/daemon.log" 2>&1 9>&- & ;;
    unbound) unbound -d -c "$d/unbound.conf" > "$d/daemon.log" 2>&1 9>&- & ;;
    bind) named -4 -f -n "$THREADS" -c "$d/named.conf" > "$d/daemon.log" 2>&1 9>&- & ;;
    pdns) pdns_recursor --config-dir="$d" > "$d/daemon.log" 2>&1 9>&- & ;;
  esac
  server_pid=$!
  for _ in $(seq 1 150); do
    kill -0 "$server_pid" 2>/dev/null || { echo "$r exited at start:"; tail -5 "$d/daemon.log"; exit 1; }
    if answers "$a" . NS; then return 0; fi
    sleep 0.1
  done
  echo "$r did not answer on $a within 15 s"; tail -5 "$d/daemon.log"; exit 1
}
version_of() {
  case $1 in
    sekisho) "$SEKISHO_BIN" --version 2>&1 | head -1;;
    unbound) unbound -V 2>/dev/null | head -1;;
    bind) named -v;;
    pdns) pdns_recursor --version 2>&1 | grep -o 'PowerDNS Recursor [^ ]*' | head -1;;
  esac
}

# --- one measurement -----------------------------------------------------------
measure() { # pass resolver scenario
  local pass=$1 r=$2 sc=$3 a=${ADDR[$2]} d="$W/run/$1/$2/$3" o="$OUT/raw/$1/$2/$3"
  rm -rf "$d" "$o"; mkdir -p "$d" "$o"
  write_conf "$r" "$pass" "$d"
  start_server "$r" "$d"
  $TOOLS warm --server "$a" --names "$W/hits.txt" --source $LEGIT_SRC
  case $sc in
    base) # what each hostile zone looks like through this resolver (rcode, flags), for the record
      for q in www.secure.test/A www.keytrap.test/A nope1.n3.test/A h1.n3.test/A x1.sink.example/A x1.slow.example/A; do
        echo "$q: $(dig +time=3 +tries=1 +dnssec @"$a" "${q%/*}" "${q#*/}" 2>&1 | grep -E '^;; ->>HEADER|^;; flags|EDE|timed out' | tr '\n' ' ')"
      done > "$o/probe.txt" ;;
    sink|slow)
      timeout $((ATTACK_S + 15)) $TOOLS flood --server "$a" --source $FLOOD_SRC --zones $sc.example \
        --rate "$FLOOD_QPS" --duration $ATTACK_S --out "$o/attack.json" 9>&- & attack_pid=$! ;;
    crafted)
      timeout $((ATTACK_S + 15)) $TOOLS flood --server "$a" --source $FLOOD_SRC --zones keytrap.test,n3.test \
        --dnssec --rate "$CRAFT_QPS" --duration $ATTACK_S --out "$o/attack.json" 9>&- & attack_pid=$! ;;
    tcp)
      timeout $((ATTACK_S + 15)) $TOOLS tcphold --server "$a" --source $TCP_SRC --clients "$TCP_CLIENTS" \
        --hold $((RAMP + WINDOW)) --out "$o/tcphold.json" > "$o/attack.txt" 2>&1 9>&- & attack_pid=$! ;;
    heavy)
      timeout $((ATTACK_S + 15)) dnsperf -s "$a" -a $HEAVY_SRC -d "$W/hits.txt" -l $ATTACK_S \
        -Q "$HEAVY_QPS" -q 2000 -c 8 -T 2 -t 2 > "$d/dnsperf.txt" 2>&1 9>&- & attack_pid=$! ;;
  esac
  sleep "$RAMP"
  $TOOLS sample --pid "$server_pid" --seconds "$WINDOW" --out "$o/sample.json" 9>&- & sampler_pid=$!
  $TOOLS legit --server "$a" --source $LEGIT_SRC --hits "$W/hits.txt" --miss-zones $MISS_ZONES \
    --hit-rate "$HIT_RATE" --miss-rate "$MISS_RATE" --duration "$WINDOW" --out "$o/legit.json" \
    --trace "$o/legit-trace.txt"
  wait "$sampler_pid" || true; sampler_pid=""
  if [ -n "$attack_pid" ]; then wait "$attack_pid" || true; attack_pid=""; fi
  [ -f "$d/dnsperf.txt" ] && { grep -v '^\[Timeout\]' "$d/dnsperf.txt" > "$o/attack.txt" || true; }
  if [ "$r" = sekisho ] && command -v curl >/dev/null; then
    curl -s -m 5 "http://$a:9153/metrics" | grep -E '^sekisho_(limit|recursions|cache_bytes)' > "$o/metrics.txt" || true
  fi
  kill -0 "$server_pid" 2>/dev/null && echo alive > "$o/state" || echo exited > "$o/state"
  stop_server
  cp "$d"/*.conf "$d"/*.toml "$d"/*.lua "$o"/ 2>/dev/null || true
  tail -50 "$d/daemon.log" > "$o/daemon.log.tail" 2>/dev/null || true
  echo "$(date -u +%T) $pass $r $sc: $(python3 -c "
import json; l=json.load(open('$o/legit.json')); s=json.load(open('$o/sample.json'))
print('hits %.0f%% misses %.0f%% cpu %.1fs rss %d MiB fds %d' % (100*l['hit']['answered_share'], 100*l['miss']['answered_share'], s.get('cpu_s',0), s.get('rss_kib_max',0)//1024, s.get('fds_max',0)))")"
}

{
  echo "date: $(date -u '+%F %T') UTC"
  echo "sekisho_bin: $SEKISHO_BIN"
  echo "sekisho_commit: ${SEKISHO_COMMIT:-$(git -C "$(dirname "$SEKISHO_BIN")" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
  for r in sekisho unbound bind pdns; do echo "version_$r: $(version_of $r)"; done
  echo "window_s: $WINDOW"; echo "ramp_s: $RAMP"; echo "flood_qps: $FLOOD_QPS"; echo "craft_qps: $CRAFT_QPS"
  echo "heavy_qps: $HEAVY_QPS"; echo "tcp_clients: $TCP_CLIENTS"; echo "hit_rate: $HIT_RATE"; echo "miss_rate: $MISS_RATE"
  echo "threads: $THREADS"; echo "cores: $(nproc)"; echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  cat "$W/mkzones.txt"
} > "$OUT/raw/meta.txt"
T0=$SECONDS
for pass in $PASSES; do
  for r in $RESOLVERS; do
    [ "$pass" = tuned ] && [ "$r" = pdns ] && continue   # same configuration as the default pass
    for sc in $SCENARIOS; do measure "$pass" "$r" "$sc"; done
  done
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/raw/meta.txt"
echo "elapsed_s: $((SECONDS - T0))" >> "$OUT/raw/meta.txt"
python3 "$HERE/summarise.py" "$OUT/raw" > "$OUT/RESULTS.md"
cat "$OUT/RESULTS.md"
