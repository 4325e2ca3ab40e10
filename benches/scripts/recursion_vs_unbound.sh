#!/usr/bin/env bash
# Recursion throughput, Sekisho vs Unbound, same machine, same setup: the
# loopback mini-internet (testdata/mini-internet: authoritative BIND for a
# signed root, an NSEC3-signed `test.`, signed and unsigned children) and
# each resolver recursing from its root hints with its trust anchor,
# validating. Three workloads, each on a freshly started resolver (cold
# caches), each a dnsperf run bounded in time (-l) and in queries (-n):
#
#   miss-unsigned  unique names rN.wild.corp.example (wildcard, unsigned zone),
#                  every query a cache miss that goes to the authority;
#                  the zone cut and its server warmed first
#   miss-signed    unique names rN.wild.secure.test (wildcard, signed zone):
#                  a miss plus one validation each; DS/DNSKEY chain warmed first
#   hit            10 names, warmed twice, then asked over and over
#
# Prints q/s for each and the ratio Sekisho/Unbound. dnsperf, both
# resolvers and the authoritative BIND share the machine's cores: the
# figures are relative (compare the ratio), not capacity.
#
# Addresses: the hierarchy's addresses are fixed in its zone files (glue on
# 127.0.20.1-8 port 53), the same ones resolver/tests/recursion.rs uses. The
# script therefore takes that test's lock (/tmp/sekisho-mini-internet.lock.d,
# waiting up to 5 minutes, as the test does) and refuses to run if something
# still answers on 127.0.20.1:53 (a mini-internet started by hand: stop.sh).
# The resolvers listen on 127.0.60.1:53 (Sekisho) and 127.0.60.2:53 (Unbound).
# The measuring part holds flock /tmp/sekisho-bench.lock, shared with the
# other benchmarks, so two benchmarks never overlap (it waits for the lock).
#
# Needs root (port 53, and `ip addr add` for any 127.0.20.x missing from lo),
# named and dnssec-signzone (bind9, bind9-utils), unbound, dnsperf, dig.
#
# usage: benches/scripts/recursion_vs_unbound.sh [SECS]
#        (from the repo root, after cargo build --release -p sekisho-resolver)
#   SECS      seconds per dnsperf run (default 5)
#   env: SEKISHO_BIN_DIR (default target/release), THREADS (default nproc),
#        MISS_NAMES (unique names per miss run, default 200000, the query cap),
#        OUTSTANDING (default 50), KEEP=1 keeps the work directory's logs,
#        PER_MISS=1 adds what one unsigned miss costs at low rate (one query
#        in flight), counted by valgrind's callgrind (needs valgrind):
#        user-space instructions per miss, the difference between a run of
#        1,200 misses and one of 200, over 1,000 (deterministic, unlike the
#        CPU time of a few hundred microseconds a miss on a shared machine),
#        POLICY=1 loads a one-rule response policy zone into Sekisho (as on
#        any ISP resolver; the rule matches none of the workloads' names), to
#        price what a loaded policy adds to a miss; Unbound runs without one
set -euo pipefail
SECS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${SEKISHO_BIN_DIR:-$ROOT/target/release}
W=${TMPDIR:-/tmp}/sekisho-bench-recursion
THREADS=${THREADS:-$(nproc)}
MISS_NAMES=${MISS_NAMES:-200000}
OUTSTANDING=${OUTSTANDING:-50}
SK=127.0.60.1
UB=127.0.60.2
MI_LOCK=/tmp/sekisho-mini-internet.lock.d
BENCH_LOCK=/tmp/sekisho-bench.lock

for c in named dnssec-signzone unbound dnsperf dig flock ip; do
  command -v $c >/dev/null || { echo "need $c (apt-get install bind9 bind9-utils unbound dnsperf dnsutils)"; exit 2; }
done
[ -x "$BIN/sekisho" ] || { echo "no $BIN/sekisho: cargo build --release -p sekisho-resolver"; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root (port 53, loopback addresses)"; exit 2; }

rm -rf "$W"; mkdir -p "$W"
# The project's copy of the hierarchy, without generated files, signed afresh
# from the committed keys (as the test does; the trust anchor stays the same).
MI=$W/mini-internet
mkdir -p "$MI"
(cd "$ROOT/testdata/mini-internet" && tar --exclude=./run --exclude=./auth/zones -cf - .) | (cd "$MI" && tar -xf -)
(cd "$MI" && bash build.sh >/dev/null)

# Query files.
for i in $(seq 1 "$MISS_NAMES"); do echo "r$i.wild.corp.example A"; done > "$W/miss-unsigned.txt"
sed 's/\.wild\.corp\.example /.wild.secure.test /' "$W/miss-unsigned.txt" > "$W/miss-signed.txt"
cat > "$W/hit.txt" <<EOQ
www.corp.example A
www.corp.example AAAA
mail.corp.example A
multi.corp.example A
corp.example MX
www.secure.test A
www.secure.test AAAA
mail.secure.test A
txt.secure.test TXT
secure.test MX
EOQ
warm_miss_unsigned="corp.example/SOA www.corp.example/A warm1.wild.corp.example/A warm2.wild.corp.example/A"
warm_miss_signed="secure.test/DNSKEY www.secure.test/A warm1.wild.secure.test/A warm2.wild.secure.test/A"
warm_hit=$(awk '{printf "%s/%s ", $1, $2}' "$W/hit.txt")

cat > "$W/unbound.conf" <<EOC
server:
  interface: $UB@53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$W"
  pidfile: "$W/unbound.pid"
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
remote-control:
  control-enable: no
EOC
cat > "$W/sekisho.toml" <<EOC
[server]
listen = ["$SK:53"]
allow-query = ["127.0.0.0/8"]
allow-recursion = ["127.0.0.0/8"]
directory = "$W/sekisho"
threads = $THREADS
root-hints = "$MI/hints/root.hints"
[dnssec]
validation = "yes"
trust-anchor-file = "$MI/trust/root.ds"
[control]
socket = "$W/sekisho.sock"
[metrics]
listen = "none"
[logging]
level = "warn"
EOC
if [ "${POLICY:-0}" = 1 ]; then
  printf '$TTL 300\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\nblocked.example CNAME .\n' > "$W/rpz.local.zone"
  printf '[[response-policy.zone]]\nname = "rpz.local"\nfile = "%s"\n' "$W/rpz.local.zone" >> "$W/sekisho.toml"
fi
mkdir -p "$W/sekisho"
"$BIN/sekisho" check-config "$W/sekisho.toml" >/dev/null
unbound-checkconf "$W/unbound.conf" >/dev/null

server_pid=""
mi_started=0
added_addrs=()
have_mi_lock=0
stop_server() { # [tenths of a second to wait before SIGKILL, default 50]
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 "${1:-50}"); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  set +e
  stop_server
  [ "$mi_started" = 1 ] && KEEP_ADDRS=1 bash "$MI/stop.sh" >/dev/null
  for a in "${added_addrs[@]}"; do ip addr del "$a/32" dev lo 2>/dev/null; done
  if [ "$have_mi_lock" = 1 ] && [ "$(cat "$MI_LOCK/pid" 2>/dev/null)" = "$$" ]; then rm -rf "$MI_LOCK"; fi
  [ "${KEEP:-0}" = 1 ] || rm -f "$W"/miss-*.txt
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Answers at all (any rcode), within one second.
answers() { dig +time=1 +tries=1 @"$1" "$2" "${3:-SOA}" >/dev/null 2>&1; }
take_mi_lock() { # the test's protocol: mkdir is atomic, pid inside, a dead owner's lock is stale
  local until=$((SECONDS + 300)) owner
  while :; do
    if mkdir "$MI_LOCK" 2>/dev/null; then echo $$ > "$MI_LOCK/pid"; have_mi_lock=1; return 0; fi
    owner=$(cat "$MI_LOCK/pid" 2>/dev/null || true)
    if [ -n "$owner" ] && [ ! -d "/proc/$owner" ]; then rm -rf "$MI_LOCK"; continue; fi
    [ $SECONDS -lt $until ] || { echo "mini-internet lock $MI_LOCK held by pid ${owner:-?} for 5 minutes; giving up"; exit 3; }
    sleep 0.5
  done
}

start_server() { # sekisho|unbound log [wrapper...]   (fd 9, the bench lock, is not passed on)
  local srv=$1 log=$2
  shift 2
  if [ "$srv" = sekisho ]; then
    rm -rf "$W/sekisho" "$W/sekisho.sock"; mkdir -p "$W/sekisho"
    "$@" "$BIN/sekisho" --config "$W/sekisho.toml" > "$log" 2>&1 9>&- &
    server_pid=$!; addr=$SK
  else
    "$@" unbound -d -c "$W/unbound.conf" > "$log" 2>&1 9>&- &
    server_pid=$!; addr=$UB
  fi
  for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { echo "$srv exited at start:"; tail -5 "$log"; exit 1; }
    if answers "$addr" . NS; then return 0; fi
    sleep 0.1
  done
  echo "$srv did not answer on $addr within 30 s"; tail -5 "$log"; exit 1
}

warm() { # addr "name/type ..."
  for _ in 1 2; do
    for q in $2; do dig +time=2 +tries=1 @"$1" "${q%/*}" "${q#*/}" >/dev/null 2>&1 || true; done
  done
}

# One dnsperf run on a fresh server: q/s into QPS[workload.server]; the
# full output stays in $W/<workload>.<server>.dnsperf
declare -A QPS
measure() { # workload server
  local wl=$1 srv=$2 addr warmset f="$W/$1.$2.dnsperf" n q c
  start_server "$srv" "$W/$wl.$srv.log"
  case $wl in
    miss-unsigned) warmset=$warm_miss_unsigned ;;
    miss-signed) warmset=$warm_miss_signed ;;
    hit) warmset=$warm_hit ;;
  esac
  warm "$addr" "$warmset"
  # validation really on: a signed wildcard answer must carry AD
  if [ "$wl" = miss-signed ] && ! dig +time=2 +tries=1 +dnssec @"$addr" check.wild.secure.test A | grep -q 'flags:.* ad'; then
    echo "warning: $srv did not set AD on check.wild.secure.test" >&2
  fi
  if [ "$wl" = hit ]; then n=100000; q=100; c=4; else n=1; q=$OUTSTANDING; c=4; fi
  timeout $((SECS + 30)) dnsperf -s "$addr" -d "$W/$wl.txt" -l "$SECS" -n "$n" -q "$q" -c "$c" -T 1 -t 2 > "$f" 2>&1 || true
  stop_server
  QPS[$wl.$srv]=$(awk '/Queries per second/ {printf "%d", $4}' "$f")
}
codes() { # workload server -> "NOERROR 99.9%, lost 0"
  awk '/Queries lost/ {lost=$3} /Response codes/ {sub(/.*Response codes: */, ""); rc=$0} END {printf "%s; lost %s", rc, lost}' "$W/$1.$2.dnsperf"
}

exec 9> "$BENCH_LOCK"
if ! flock -n 9; then echo "waiting for $BENCH_LOCK (another benchmark is measuring)"; flock 9; fi
take_mi_lock
answers 127.0.20.1 . && { echo "something already answers on 127.0.20.1:53 (a mini-internet started by hand? testdata/mini-internet/stop.sh); refusing"; exit 3; }
for a in $SK $UB; do answers "$a" . && { echo "something already answers on $a:53; refusing"; exit 3; }; done
LOADDRS=$(ip -4 -o addr show dev lo)
for i in 1 2 3 4 5 6 7 8 9; do
  grep -qF " 127.0.20.$i/32 " <<<"$LOADDRS" || added_addrs+=("127.0.20.$i")
done
mi_started=1
(cd "$MI" && bash start.sh >/dev/null 9>&-)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for wl in miss-unsigned miss-signed hit; do
  for srv in sekisho unbound; do measure "$wl" "$srv"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# What one unsigned miss costs at low rate (PER_MISS=1): one query in flight
# (dnsperf -q 1), names under the unsigned wildcard never asked before.
declare -A INSNS
sequential() { # addr count tag: count unique misses, one at a time
  for i in $(seq 1 "$2"); do echo "s$3-$i.wild.corp.example A"; done > "$W/seq-$3.txt"
  timeout 120 dnsperf -s "$1" -d "$W/seq-$3.txt" -n 1 -q 1 -c 1 -T 1 -t 2 > "$W/seq-$3.dnsperf" 2>&1 || true
}
if [ "${PER_MISS:-0}" = 1 ]; then
  command -v valgrind >/dev/null || { echo "PER_MISS=1 needs valgrind"; exit 2; }
  for srv in sekisho unbound; do
    for n in 200 1200; do
      start_server "$srv" "$W/per-miss.$srv.$n.log" valgrind --tool=callgrind --callgrind-out-file="$W/callgrind.$srv.$n"
      warm "$addr" "$warm_miss_unsigned"
      sequential "$addr" "$n" "$srv-cg$n"
      stop_server 600 # callgrind writes its counts at a clean exit
      INSNS[$srv.$n]=$(awk '/Collected/ {print $4}' "$W/per-miss.$srv.$n.log" | tr -d ,)
    done
  done
fi

echo "recursion over the mini-internet, validating, dnsperf ${SECS}s per run (-q $OUTSTANDING for misses, -q 100 -c 4 for hits),"
echo "$(nproc) cores shared by dnsperf, the resolver and the authoritative BIND; load average before $load_before, after $load_after"
if [ "${POLICY:-0}" = 1 ]; then echo "Sekisho with a one-rule response policy zone loaded (POLICY=1); Unbound without"; fi
printf '%-58s %12s %12s %7s\n' workload "sekisho q/s" "unbound q/s" ratio
for wl in miss-unsigned miss-signed hit; do
  case $wl in
    miss-unsigned) d="cache misses, unsigned (rN.wild.corp.example)" ;;
    miss-signed) d="cache misses, signed + validated (rN.wild.secure.test)" ;;
    hit) d="cache hits (10 names, warmed)" ;;
  esac
  s=${QPS[$wl.sekisho]:-0}; u=${QPS[$wl.unbound]:-0}
  printf '%-58s %12s %12s %7s\n' "$d" "$s" "$u" "$(awk -v s="$s" -v u="$u" 'BEGIN { if (u > 0) printf "%.2f", s / u; else print "-" }')"
done
if [ "${PER_MISS:-0}" = 1 ]; then
  echo "one unsigned miss at a time (dnsperf -q 1): user-space instructions per miss (callgrind, 1,200 - 200 misses)"
  for srv in sekisho unbound; do
    printf '  %-8s %s\n' "$srv" \
      "$(awk -v a="${INSNS[$srv.200]:-0}" -v b="${INSNS[$srv.1200]:-0}" 'BEGIN { printf "%d", (b - a) / 1000 }')"
  done
fi
echo "response codes:"
for wl in miss-unsigned miss-signed hit; do
  for srv in sekisho unbound; do printf '  %-14s %-8s %s\n' "$wl" "$srv" "$(codes "$wl" "$srv")"; done
done
echo "(dnsperf output and server logs in $W)"
