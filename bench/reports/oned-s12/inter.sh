#!/bin/bash
# both arms at once, each one instance at a time (--jobs 1), 10 s, cpsat through engine.solve
# one.py is bench/reports/oned-s12/one.py.txt (kept as text beside this script)
list=$1; out=$2
run_arm() {
  arm=$1; dir=$2
  while IFS=$'\t' read -r kind path lo up; do
    (cd "$dir" && timeout 120 /work/wt-oned/.venv/bin/python /work/oned-scratch/s12/one.py "$path" 10 "$lo" "$arm" "$kind" "$up") >> "$out" 2>> "$out.err"
  done < "$list"
}
run_arm base /work/oned-ab-base &
run_arm new /work/oned-ab-new &
wait
