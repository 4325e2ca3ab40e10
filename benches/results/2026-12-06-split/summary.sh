#!/bin/bash
# One line per run: load time, bytes per rule (RSS at 1M minus RSS with no rules), dnsperf q/s
# at 1M (clean, mixed), reload under 20k q/s (new rule live, lost, max latency), q/s with no rules.
printf "%-8s %7s %8s %9s %9s %8s %9s %8s %6s %8s\n" run load_s B/rule clean_qps mixed_qps rel_new_s rel_lost rel_maxms q0_clean q0_mixed
for d in ${OUT:-/tmp/bench}/*-raw; do
  r=$(basename $d -raw)
  m=$d/sekisho-N1000000; z=$d/sekisho-N0
  get() { grep "^$1=" $2/meta.txt | tail -1 | cut -d= -f2; }
  qps() { grep "Queries per second" $1 | awk '{print $4}'; }
  rss=$(get rss_kb $m); rss0=$(get rss_kb $z)
  bpr=$(python3 -c "print(round(($rss-$rss0)*1024/1e6,1))")
  lost=$(grep "Queries lost" $m/reload_dnsperf.txt | awk '{print $3}')
  maxl=$(grep "Average Latency" $m/reload_dnsperf.txt | sed 's/.*max \([0-9.]*\).*/\1/')
  maxms=$(python3 -c "print(round(float('$maxl')*1000,1))" 2>/dev/null)
  printf "%-8s %7s %8s %9s %9s %8s %9s %8s %6s %8s\n" $r $(get load_s $m) $bpr $(qps $m/tput_clean.txt) $(qps $m/tput_mixed.txt) $(get reload_new_rule_s $m) "$lost" "$maxms" $(qps $z/tput_clean.txt) $(qps $z/tput_mixed.txt)
done
