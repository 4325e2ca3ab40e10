#!/usr/bin/env bash
# The package, installed as an operator would: build it, `dpkg -i` it, check
# the user, the files and the unit (`systemd-analyze verify`, which names
# any key Debian 12's systemd 252 ignores), run the installed binary with
# the installed configuration and ask it a question, then purge it and check
# that nothing is left. Needs root (dpkg, port 53 on 127.0.0.1) and a
# machine where nothing else listens on 127.0.0.1:53; CI runs it after the
# test suite. Every wait is bounded.
#
# usage: resolver/dist/debian/check-package.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
fail() { echo "check-package: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (dpkg -i)"

DEB=$(resolver/dist/debian/build-deb.sh | tail -1)
echo "== installing $DEB"
dpkg -i "$DEB"
trap 'pkill -f "^/usr/sbin/sekisho --config /etc/sekisho/sekisho.toml" 2>/dev/null || true' EXIT

getent passwd sekisho >/dev/null || fail "no sekisho user"
for f in /usr/sbin/sekisho /usr/bin/sekishoctl /etc/sekisho/sekisho.toml \
         /lib/systemd/system/sekisho.service /usr/share/man/man8/sekisho.8.gz \
         /usr/share/man/man8/sekishoctl.8.gz /usr/share/man/man5/sekisho.toml.5.gz \
         /usr/share/bash-completion/completions/sekisho /usr/share/doc/sekisho/copyright; do
  [ -e "$f" ] || fail "missing $f"
done
[ "$(stat -c %U:%G /var/lib/sekisho)" = sekisho:sekisho ] || fail "/var/lib/sekisho not owned by sekisho"
[ "$(stat -c %a:%G /etc/sekisho/sekisho.toml)" = 640:sekisho ] || fail "/etc/sekisho/sekisho.toml not 0640 root:sekisho"
grep -qx /etc/sekisho/sekisho.toml /var/lib/dpkg/info/sekisho.conffiles || fail "the configuration is not a conffile"
for page in /usr/share/man/man8/sekisho.8.gz /usr/share/man/man8/sekishoctl.8.gz /usr/share/man/man5/sekisho.toml.5.gz; do
  gzip -t "$page" || fail "$page is not gzip"
  # grep -c reads all its input: with -q it would quit early, zcat would die of
  # SIGPIPE on a large page and pipefail would call that a failure.
  [ "$(zcat "$page" | grep -c '^\.TH ')" -ge 1 ] || fail "$page has no .TH"
done
bash -n /usr/share/bash-completion/completions/sekisho || fail "completion does not parse"

echo "== systemd-analyze verify"
verify=$(systemd-analyze verify /lib/systemd/system/sekisho.service 2>&1) || fail "verify failed: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify complained: $verify"

echo "== the installed binary with the installed configuration"
/usr/sbin/sekisho check-config /etc/sekisho/sekisho.toml
# systemd would make /run/sekisho (RuntimeDirectory=) and drop to the user
# with CAP_NET_BIND_SERVICE; here the same by hand.
install -d -o sekisho -g sekisho -m 0750 /run/sekisho
setpriv --reuid sekisho --regid sekisho --init-groups \
  --inh-caps +net_bind_service --ambient-caps +net_bind_service \
  /usr/sbin/sekisho --config /etc/sekisho/sekisho.toml > /tmp/sekisho-package.log 2>&1 &
pid=$!
answer=""
for _ in $(seq 100); do
  answer=$(dig +short +tries=1 +time=1 @127.0.0.1 -p 53 CH TXT version.bind 2>/dev/null || true)
  [ -n "$answer" ] && break
  kill -0 "$pid" 2>/dev/null || { cat /tmp/sekisho-package.log; fail "the installed daemon exited"; }
  sleep 0.1
done
[ "$answer" = "\"sekisho $(/usr/sbin/sekisho --version | awk '{print $2}')\"" ] \
  || { cat /tmp/sekisho-package.log; fail "version.bind answered '$answer'"; }
/usr/bin/sekishoctl --socket /run/sekisho/control.sock status >/dev/null \
  || fail "sekishoctl status against the installed daemon failed"
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || fail "the daemon did not stop on SIGTERM"
echo "answered version.bind: $answer"

echo "== purging"
dpkg --purge sekisho
for f in /usr/sbin/sekisho /usr/bin/sekishoctl /etc/sekisho/sekisho.toml /var/lib/sekisho \
         /lib/systemd/system/sekisho.service; do
  [ ! -e "$f" ] || fail "$f left after purge"
done
rm -rf /run/sekisho
echo "check-package: ok"
