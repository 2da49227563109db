#!/bin/bash
# Other commands starved to SHARE of the wall clock, before (779208d) and after at once:
#   placer fair --equilibrium -t LIMIT on `placer generate tenants --tenants 8 --nodes 200 --seed 3`
#   placer verify --prove -t LIMIT on the demo and its plan from `placer solve -t 20` (optimal)
lim=$1; share=$2
PY=/work/wt-pace/.venv/bin/python
OUT=/work/wt-pace/bench/reports/pace-s12/raw/commands-t$lim-s$share.txt
run() { local d=$1 t=$2; shift 2
  cd $d && $PY /work/wt-pace/bench/starve.py $share -- $PY -m engine "$@" > /tmp/pace/cmd-$t.out 2>&1
  echo "$t $(grep 'starved at' /tmp/pace/cmd-$t.out) :: $(grep -v 'starved at' /tmp/pace/cmd-$t.out | grep -i 'game\|confirmed\|refuted\|undecided\|error' | head -2 | tr '\n' ' ' | cut -c1-200)"
}
{ echo "load $(cut -d' ' -f1-3 /proc/loadavg); -t $lim starved to $share; new=$(git -C /work/wt-pace rev-parse --short HEAD)"
  run /tmp/pace-base base fair /tmp/pace/tenants8.yaml --equilibrium -t $lim & run /work/wt-pace new fair /tmp/pace/tenants8.yaml --equilibrium -t $lim & wait
  run /tmp/pace-base base verify /work/wt-pace/instances/demo-cluster.yaml /tmp/pace/demo-plan.json --prove -t $lim & run /work/wt-pace new verify /work/wt-pace/instances/demo-cluster.yaml /tmp/pace/demo-plan.json --prove -t $lim & wait; } | tee -a $OUT
