#!/usr/bin/env bash
# Builds the Debian package from the tree: target/debian/sekisho_VERSION_ARCH.deb
#
#   /usr/sbin/sekisho, /usr/bin/sekishoctl          release builds, debug info stripped
#   /etc/sekisho/sekisho.toml                       conffile (resolver/dist/debian/sekisho.toml)
#   /lib/systemd/system/sekisho.service             resolver/dist/sekisho.service
#   /usr/share/man/man8/sekisho.8.gz, sekishoctl.8.gz, man5/sekisho.toml.5.gz
#                                                   generated from the clap definitions and
#                                                   docs/config.md (`generate-manual`)
#   /usr/share/bash-completion/completions/sekisho, sekishoctl
#   /usr/share/doc/sekisho/                         README, docs/*.md, copyright, alert rules,
#                                                   Grafana dashboard
# The maintainer scripts (postinst, prerm, postrm) create the `sekisho` user
# and /var/lib/sekisho, /var/log/sekisho, and start the unit where systemd runs.
# Needs: cargo, dpkg-deb, strip (binutils). No root.
#
# usage: resolver/dist/debian/build-deb.sh   (from anywhere)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
HERE=resolver/dist/debian
VERSION=$(awk '/^\[workspace.package\]/{p=1} p && /^version *=/{gsub(/[" ]/,"",$3); print $3; exit}' Cargo.toml)
ARCH=$(dpkg --print-architecture)
OUT=target/debian
STAGE=$OUT/stage
cargo build --release --locked -p sekisho-resolver -p sekisho-ctl
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN"

install -D -m 0755 target/release/sekisho "$STAGE/usr/sbin/sekisho"
install -D -m 0755 target/release/sekishoctl "$STAGE/usr/bin/sekishoctl"
strip --strip-debug "$STAGE/usr/sbin/sekisho" "$STAGE/usr/bin/sekishoctl"
install -D -m 0644 resolver/dist/sekisho.service "$STAGE/lib/systemd/system/sekisho.service"
install -D -m 0640 "$HERE/sekisho.toml" "$STAGE/etc/sekisho/sekisho.toml"

# Man pages and completions, from the binaries just built.
GEN=$OUT/generated
rm -rf "$GEN"; mkdir -p "$GEN"
DATE=$(date -u +%F)
"$STAGE/usr/sbin/sekisho" generate-manual "$GEN" --date "$DATE"
"$STAGE/usr/bin/sekishoctl" generate-manual "$GEN" --date "$DATE"
for page in "$GEN"/*.[0-9]; do
  section=${page##*.}
  install -D -m 0644 "$page" "$STAGE/usr/share/man/man$section/$(basename "$page")"
  gzip -9n "$STAGE/usr/share/man/man$section/$(basename "$page")"
done
for c in sekisho sekishoctl; do
  install -D -m 0644 "$GEN/$c.bash" "$STAGE/usr/share/bash-completion/completions/$c"
done

DOC=$STAGE/usr/share/doc/sekisho
install -D -m 0644 README.md "$DOC/README.md"
for f in docs/*.md; do install -D -m 0644 "$f" "$DOC/$(basename "$f")"; done
install -D -m 0644 resolver/dist/prometheus/sekisho-alerts.yml "$DOC/examples/prometheus/sekisho-alerts.yml"
install -D -m 0644 resolver/dist/grafana/sekisho-dashboard.json "$DOC/examples/grafana/sekisho-dashboard.json"
cat > "$DOC/copyright" <<EOC
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sekisho
Source: the Sekisho source tree

Files: *
Copyright: the Sekisho developers
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOC

for s in postinst prerm postrm; do install -m 0755 "$HERE/$s" "$STAGE/DEBIAN/$s"; done
echo /etc/sekisho/sekisho.toml > "$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<EOC
Package: sekisho
Version: $VERSION
Architecture: $ARCH
Maintainer: Sekisho developers <sekisho@example.invalid>
Installed-Size: $SIZE
Depends: libc6 (>= 2.36), adduser
Recommends: dnsutils
Suggests: fstrm-bin, prometheus
Section: net
Priority: optional
Homepage: https://example.invalid/sekisho
Description: RPZ-capable caching and recursive DNS resolver for ISPs
 Sekisho answers subscribers as a caching resolver (recursion from the root
 with DNSSEC validation, or forwarding over DNS, DoT or DoH), applies
 response policy zones exactly as BIND 9.18 does, takes them by
 TSIG-signed AXFR/IXFR with NOTIFY and swaps them in without stalling a
 query. Operated like BIND and Unbound: TOML configuration, sekishoctl,
 Prometheus metrics, per-zone hit logs and dnstap.
EOC

DEB=$OUT/sekisho_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
