#!/usr/bin/env python3
"""Medians over repeated hostile-traffic runs, one Markdown table per pass.

usage: medians.py OUT_DIR [OUT_DIR ...]   (each an OUT of run.sh, holding raw/)

One run puts one 20-second window in each cell, and a p99 of a few tenths of
a millisecond moves by more than that between runs on a shared machine. Run
the benchmark several times (e.g. three OUT directories) and compare the
medians: for each pass, scenario and resolver present in every run, the
median and the range of the legitimate clients' hit and miss p99 and of the
answered shares, and the median CPU seconds. The last column says whether
Sekisho's median hit and miss p99 are at or below those of every peer in the
same cell.
"""

import os
import statistics
import sys

# The resolvers, scenarios and result loader of the single-run report.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarise import NAMES, RESOLVERS, SCENARIOS, load  # noqa: E402


def cell(out, pss, r, sc):
    """(hit p99, miss p99, hit share, miss share, cpu s) of one run, or None."""
    d = os.path.join(out, "raw", pss, r, sc)
    legit, sample = load(os.path.join(d, "legit.json")), load(os.path.join(d, "sample.json"))
    if not legit or not sample:
        return None
    h, m = legit["hit"], legit["miss"]
    return (h.get("p99_ms"), m.get("p99_ms"), h["answered_share"], m["answered_share"],
            sample.get("cpu_s", 0.0))


def fmt(values, digits=1, pct=False):
    vals = [v for v in values if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if pct:
        return "%.1f%% (%.1f-%.1f)" % (100 * med, 100 * min(vals), 100 * max(vals))
    return "%.*f (%.*f-%.*f)" % (digits, med, digits, min(vals), digits, max(vals))


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def main():
    outs = sys.argv[1:]
    if not outs:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    print("Medians (range) over %d runs: %s\n" % (len(outs), ", ".join(outs)))
    for pss in ("default", "tuned"):
        rows = []
        for sc in SCENARIOS:
            per = {}
            for r in RESOLVERS:
                cells = [cell(o, pss, r, sc) for o in outs]
                if any(c is None for c in cells):
                    continue
                per[r] = cells
            if "sekisho" not in per:
                continue
            peers = [r for r in per if r != "sekisho"]
            for r, cells in per.items():
                verdict = ""
                if r == "sekisho" and peers:
                    ok = all(
                        median(c[i] for c in per["sekisho"]) <= median(c[i] for c in per[p])
                        for p in peers
                        for i in (0, 1)
                    )
                    verdict = "yes" if ok else "no"
                rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    sc, NAMES[r],
                    fmt([c[2] for c in cells], pct=True), fmt([c[3] for c in cells], pct=True),
                    fmt([c[0] for c in cells], 2), fmt([c[1] for c in cells], 2),
                    fmt([c[4] for c in cells]), verdict))
        if not rows:
            continue
        print("## Pass: %s\n" % pss)
        print("| scenario | resolver | hits answered | misses answered | hit p99 ms | miss p99 ms "
              "| CPU s | Sekisho's p99s ≤ every peer's |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        print("\n".join(rows))
        print()


if __name__ == "__main__":
    main()
