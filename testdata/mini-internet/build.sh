#!/bin/bash
# Builds (once) the DNSSEC keys and the signed zone files of the mini-internet.
# Keys are kept in keys/ so that re-running keeps the same trust anchor; the corpus
# ignores RRSIG signature bytes, so re-signing does not invalidate golden answers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
ALG=ECDSAP256SHA256
INCEPT=20240101000000
EXPIRE=20500101000000
SRC=zones-src
OUT=auth/zones
B=$(mktemp -d /tmp/mini-internet-build.XXXXXX)
mkdir -p keys keys/decoy "$OUT" trust

genkey() { # dir zone   (key files are K<zone>.+013+<tag>.key; for the root: K.+013+<tag>.key)
  local stem="$2."; [ "$2" = . ] && stem=.
  if ! ls "$1"/K"$stem"+013+*.key >/dev/null 2>&1; then
    dnssec-keygen -q -K "$1" -a $ALG -f KSK -n ZONE "$2" >/dev/null
  fi
}
for z in . test secure.test bogus.test bogus2.test future.test expired.test; do genkey keys "$z"; done
genkey keys/decoy bogus.test     # key whose DS is published for bogus.test but never signs it

sign() { # zone infile outfile [extra args]
  local z=$1 in=$2 out=$3; shift 3
  dnssec-signzone -q -S -z -K keys -d "$B" -o "$z" -s $INCEPT -e $EXPIRE -O full -f "$out" "$@" "$in" >/dev/null
}

# leaves
for z in secure.test bogus.test bogus2.test; do
  cp "$SRC/$z.zone" "$B/$z.zone"
  sign "$z" "$B/$z.zone" "$OUT/$z.signed"
done
# Sekisho additions: signatures not yet valid (inception a year from now) and expired ones
cp "$SRC/future.test.zone" "$B/future.test.zone"
sign future.test "$B/future.test.zone" "$OUT/future.test.signed" -P -s now+31536000 -e now+63072000
cp "$SRC/expired.test.zone" "$B/expired.test.zone"
sign expired.test "$B/expired.test.zone" "$OUT/expired.test.signed" -P -s 20200101000000 -e 20200201000000
# tamper: www.bogus2.test A changed after signing -> its RRSIG no longer verifies
sed -i -E 's/^(www\.bogus2\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+)192\.0\.2\.30$/\1192.0.2.31/' "$OUT/bogus2.test.signed"
grep -q '192.0.2.31' "$OUT/bogus2.test.signed" || { echo "tamper failed"; exit 1; }
# unsigned zones: copied as-is
for z in insecure.test example corp.example ads.example garden.example evil-ns.example badns.example badip.example cdn.example ipblock.example oob.corp.example; do
  cp "$SRC/$z.zone" "$OUT/$z.db"
done

# test. (NSEC3, no salt, 0 iterations) with DS for secure/bogus2 (real) and bogus (decoy)
cp "$SRC/test.zone" "$B/test.zone"
cat "$B/dsset-secure.test." "$B/dsset-bogus2.test." "$B/dsset-future.test." "$B/dsset-expired.test." >> "$B/test.zone"
dnssec-dsfromkey -2 keys/decoy/Kbogus.test.+013+*.key >> "$B/test.zone"
sign test "$B/test.zone" "$OUT/test.signed" -3 - -H 0

# root (NSEC) with DS for test.
cp "$SRC/root.zone" "$B/root.zone"
cat "$B/dsset-test." >> "$B/root.zone"
sign . "$B/root.zone" "$OUT/root.signed"

# trust anchor files for the resolver under test
RK=$(ls keys/K.+013+*.key | head -1)
dnssec-dsfromkey -2 "$RK" > trust/root.ds
KEY=$(grep -v '^;' "$RK" | awk '{for(i=1;i<=NF;i++) if($i=="DNSKEY"){s=""; for(j=i+4;j<=NF;j++) s=s $j; print $(i+1), $(i+2), $(i+3), s}}')
set -- $KEY
echo ". 86400 IN DNSKEY $1 $2 $3 $4" > trust/root.dnskey
cat > trust/bind-trust-anchors.conf <<EOT
trust-anchors {
    "." static-key $1 $2 $3 "$4";
};
EOT
rm -rf "$B"
echo "build ok"
