#!/bin/sh
# Entrypoint of dify-conformance/redis, following the official redis image's contract:
# bare options or a .conf file mean redis-server; the server runs as `redis`;
# without a config file it listens on all interfaces with protected mode off.
set -eu

case "${1:-}" in
    -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ]; then
    shift
    case "${1:-}" in
        -v|--version|-h|--help|--test-memory|--check-system)
            # Informational modes only look at the first argument: leave it there.
            set -- redis-server "$@" ;;
        ""|-*)
            # The official image compiles protected mode off; Debian's binary keeps it
            # on. Put ours first so an explicit --protected-mode from the caller wins.
            set -- redis-server --protected-mode no "$@" ;;
        *)
            # A config file comes first and is in charge of its own settings.
            set -- redis-server "$@" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        # Bind-mounted data dirs arrive root-owned.
        find . ! -user redis -exec chown redis:redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
