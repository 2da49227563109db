#!/bin/bash
# placer migrate -t LIMIT on consolidation(3000, 0.5, seed=0) (19,994 pods), three arms at once
# (base / new-cold / new, as in run.sh), each starved to SHARE of the wall clock (bench.starve)
# usage: migrate.sh LIMIT SHARE — files made by:
#   python -c "from engine.migrate.scenario import consolidation; from engine.io import dump_problem;
#     p, s = consolidation(3000, 0.5, seed=0); dump_problem(p, '/tmp/pace/mig3000.json');
#     open('/tmp/pace/mig3000-target.json', 'w').write(s.to_json())"
lim=$1; share=$2
PY=/work/wt-pace/.venv/bin/python
OUT=/work/wt-pace/bench/reports/pace-s12/raw/migrate-t$lim-s$share.txt
mkdir -p $(dirname $OUT)
run() { local d=$1 t=$2
  cd $d && $PY /work/wt-pace/bench/starve.py $share -- $PY -m engine migrate /tmp/pace/mig3000.json \
    /tmp/pace/mig3000-target.json -t $lim -o /tmp/pace/steps-$t.yaml > /tmp/pace/mig-$t.out 2>&1
  echo "$t $(grep 'starved at' /tmp/pace/mig-$t.out) :: $(grep -v 'starved at' /tmp/pace/mig-$t.out | head -4 | tr '\n' ' ' | cut -c1-260)"
  rm -f /tmp/pace/steps-$t.yaml
}
find /tmp/pace-base/engine /tmp/pace-base/solvers /tmp/pace-newcold/engine /tmp/pace-newcold/solvers -name __pycache__ -prune -exec rm -rf {} +
{ echo "load $(cut -d' ' -f1-3 /proc/loadavg); placer migrate -t $lim starved to $share; base=$(git -C /tmp/pace-base rev-parse --short HEAD) new=$(git -C /work/wt-pace rev-parse --short HEAD)"
  run /tmp/pace-base base & run /tmp/pace-newcold newcold & run /work/wt-pace new & wait; } | tee -a $OUT
