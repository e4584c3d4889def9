#!/usr/bin/env bash
# What an operator would script instead of the harness, on a workspace the harness prepared:
#   plain.sh poll   docker compose up -d, then curl until the console API answers, a worker ping
#   plain.sh wait   docker compose up -d --wait (every healthcheck), then the same
# then the probes (the readiness pair and a console preflight) and docker compose down -v.
# Prints one line of stage times in seconds: "up U ready R probes P down D total T".
set -euo pipefail
mode=$1
workspace=$2 # shell assignments from the bench_workspace example
# shellcheck disable=SC1090
source "$workspace"
cd "$DIR"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)
if [ "$mode" = wait ]; then
  "${COMPOSE[@]}" up -d --wait --quiet-pull >/dev/null 2>&1
else
  "${COMPOSE[@]}" up -d --quiet-pull >/dev/null 2>&1
fi
up=$(since "$t0")
t1=$(now)
port=$("${COMPOSE[@]}" port nginx 80 | sed 's/.*://')
base=http://127.0.0.1:$port
# Polling, as an operator's script does: these loops observe the stack.
until curl -fsS -o /dev/null -H 'Accept: application/json' "$base/console/api/setup"; do sleep 0.5; done
until curl -fsS -o /dev/null "$base/"; do sleep 0.5; done
until "${COMPOSE[@]}" exec -T worker celery -A celery_entrypoint.celery inspect ping -t 2 >/dev/null 2>&1; do sleep 0.5; done
ready=$(since "$t1")
t2=$(now)
curl -fsS -o /dev/null -D - "$base/console/api/setup" | grep -qi '^x-version:'
curl -fsS -o /dev/null -X OPTIONS -H 'Origin: http://localhost' \
  -H 'Access-Control-Request-Method: POST' "$base/console/api/setup"
curl -fsS -o /dev/null "$base/apps"
probes=$(since "$t2")
t3=$(now)
"${COMPOSE[@]}" down -v --timeout 2 >/dev/null 2>&1
rm -rf "$DIR"
down=$(since "$t3")
echo "up $up ready $ready probes $probes down $down total $(since "$t0")"
