#!/bin/sh
# The soak's scripted agent (loop mode, headless): the prompt on stdin names the task and how to do it,
# e.g. "Task ar-1a2b: soak 7 steps=3 fail". It commits the steps one by one and journals every commit
# it made, with its worker and the time, in ~/soak-journal (outside the clone, so no checkout or clean
# touches it); the soak checks afterwards that each journaled commit is reachable from a hub branch.
set -u
prompt=$(cat)
line=$(printf '%s\n' "$prompt" | head -n 1)
id=$(printf '%s\n' "$line" | sed -n 's/^Task \([^:]*\):.*/\1/p')
steps=$(printf '%s\n' "$line" | sed -n 's/.*steps=\([0-9]*\).*/\1/p')
[ -n "$id" ] && [ -n "$steps" ] || { echo "soak-agent: cannot read the task from: $line" >&2; exit 2; }
journal=$HOME/soak-journal
run="${ISOLLM_WORKER:-?} $$"
now() { date +%s%3N; }
echo "start $id $run $(now)" >>"$journal"
mkdir -p work
i=1
while [ "$i" -le "$steps" ]; do
  echo "$id step $i of $steps by $run" >>"work/$id.txt"
  sleep "${SOAK_STEP_DELAY:-0.4}"
  git add "work/$id.txt" && git commit -q -m "$id: step $i of $steps" || exit 4
  echo "commit $id $run $(now) $(git rev-parse HEAD)" >>"$journal"
  # A failing task fails after its first commit: the loop must keep that commit too.
  case $line in *' fail'*) echo "soak-agent: failing on purpose" >&2; exit 3 ;; esac
  i=$((i + 1))
done
echo "end $id $run $(now)" >>"$journal"
