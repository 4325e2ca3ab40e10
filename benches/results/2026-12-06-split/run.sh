#!/bin/bash
# Before/after runs of one build against another with the side-by-side harness, alternated in
# the same hour: BASE_BIN and NEW_BIN are target/release folders (sekisho + sekishoctl);
# raw results are copied to OUT/<label>-<round>-raw. Run from the project root.
set -u
: "${BASE_BIN:?folder with the base build}" "${NEW_BIN:?folder with the new build}"
OUT=${OUT:-/tmp/bench}; W=${PEERS_WORK:-/tmp/peers-bench}
mkdir -p "$OUT"
for round in ${ROUNDS:-1 2}; do
  for label in base new; do
    if [ $label = base ]; then BIN=$BASE_BIN; else BIN=$NEW_BIN; fi
    echo "== $label round $round $(date +%T)"
    rm -rf "$W/results/raw"
    PEERS_WORK=$W SEKISHO_BIN_DIR=$BIN bash benches/peers/bench.sh -p sekisho -n 1000000 -m load,tput,reload -b -k > "$OUT/$label-$round.log" 2>&1
    echo "rc=$? $(date +%T)"
    cp -r "$W/results/raw" "$OUT/$label-$round-raw"
  done
done
