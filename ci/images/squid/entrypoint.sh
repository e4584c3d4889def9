#!/bin/bash
# Default entrypoint of dify-conformance/squid (Dify's compose replaces it):
# make the snakeoil certificate if missing, show squid's log files on stdout,
# prepare the cache directories, then run squid with the given arguments
# (default: the stock configuration, in the foreground).
set -eu

if [ ! -f /etc/ssl/private/ssl-cert-snakeoil.key ]; then
  make-ssl-cert generate-default-snakeoil --force-overwrite >/dev/null 2>&1 || true
fi

for log in access cache store; do
  tail -F "/var/log/squid/$log.log" 2>/dev/null &
done

# -z creates missing swap directories and exits; harmless without cache_dir.
squid "$@" -z >/dev/null 2>&1 || true
exec squid "$@"
