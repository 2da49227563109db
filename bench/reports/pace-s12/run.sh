#!/bin/bash
# Session 12 (pace): placer solve under starvation, three arms at the same time:
#   base     = the code before (779208d), its sources not compiled (cold, as on this machine)
#   new-cold = this branch, sources not compiled
#   new      = this branch, sources compiled (make bytecode)
# usage: run.sh TAG LIMIT SHARE [REPEAT] — instances in /tmp/pace (see README.md here)
set -u
tag=$1; lim=$2; share=$3; rep=${4:-1}
PY=/work/wt-pace/.venv/bin/python
B=/work/wt-pace/bench/deadlines.py
OUT=/work/wt-pace/bench/reports/pace-s12/raw
mkdir -p $OUT
files="--file demo=/work/wt-pace/instances/demo-cluster.yaml --file c3000=/tmp/pace/$tag-c3000.yaml --file bp1000=/tmp/pace/$tag-bp1000.yaml"
starve=""; [ "$share" != "1" ] && starve="--starve $share"
common="--no-interrupt -t $lim $starve $files --repeat $rep"
$PY $B $common --code /tmp/pace-base --bytecode none --report $OUT/$tag-t$lim-s$share-base > /dev/null 2>&1 &
$PY $B $common --code /tmp/pace-newcold --bytecode none --report $OUT/$tag-t$lim-s$share-newcold > /dev/null 2>&1 &
$PY $B $common --code /work/wt-pace --bytecode compiled --report $OUT/$tag-t$lim-s$share-new > /dev/null 2>&1 &
wait
$PY - "$OUT/$tag-t$lim-s$share" <<'PY'
import json, sys
stem = sys.argv[1]
arms = {a: json.load(open(f"{stem}-{a}.json")) for a in ("base", "newcold", "new")}
print(f"{stem.rsplit('/',1)[1]}: load {arms['base']['load_average'][0]} -> {arms['base']['load_average_after'][0]}, bound {arms['base']['deadlines'][0]['bound_s']} s")
for k, row in enumerate(arms["base"]["deadlines"]):
    cells = []
    for a, rep in arms.items():
        r = rep["deadlines"][k]
        cells.append(f"{a} {r['wall_s']:6.2f} {'ok' if r['ok'] else 'NO'} {r.get('status')}/{r.get('verified')} {r.get('objective')}")
    print(f"  {row['row']:<7} " + " | ".join(cells))
PY
