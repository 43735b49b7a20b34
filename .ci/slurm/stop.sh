#!/usr/bin/env bash
# Tear down what start.sh brought up: cancel jobs, then stop each daemon by its PID file, newest first.
set -uo pipefail
BASE=${BASE:-/tmp/xtalgen-slurm}
RUN=$BASE/run
status=0
if [ -s "$RUN/slurmctld.pid" ] && timeout 5 scontrol ping >/dev/null 2>&1; then
  jobs=$(squeue -h -o %i 2>/dev/null)
  if [ -n "$jobs" ]; then
    scancel $jobs
    for _ in $(seq 1 60); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.5; done
  fi
fi
for name in slurmd slurmctld slurmdbd mariadbd munged; do
  file=$RUN/$name.pid
  [ -s "$file" ] || continue
  pid=$(cat "$file")
  if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do [ -d "/proc/$pid" ] || break; sleep 0.25; done
    [ -d "/proc/$pid" ] && { kill -KILL "$pid"; sleep 0.5; }
    [ -d "/proc/$pid" ] && { echo "$name ($pid) still running"; status=1; } || echo "stopped $name ($pid)"
  fi
  rm -f "$file"
done
exit $status
