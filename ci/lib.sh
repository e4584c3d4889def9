# Shared helpers for ci/setup and ci/images/build. Source it; do not run it.
# shellcheck shell=bash

# shellcheck disable=SC2034 # CI_ROOT and CI_CACHE are for the scripts that source us.

# Repository root, whichever script sourced us.
CI_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Everything we download or build outside Docker lives here, never in the repo.
CI_CACHE=${DIFY_CONFORMANCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dify-conformance}

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# step NAME CMD...: run CMD, then print one line with NAME, outcome and wall time.
# CMD may print a short note on fd 3 (e.g. "cached"), which is shown in the line.
# CMD runs in a subshell with errexit on (a `cmd || ...` form would silently
# disable errexit inside CMD), so it cannot set variables for the caller.
# Call it as a plain statement, not inside `if`/`||`, for the same reason.
step() {
  local name=$1; shift
  local t0=$EPOCHREALTIME rc note_file
  note_file=$(mktemp)
  set +e
  (set -e; "$@") 3>"$note_file"
  rc=$?
  set -e
  local dt note
  dt=$(elapsed "$t0")
  note=$(tr '\n' ' ' <"$note_file"); note=${note% }
  rm -f "$note_file"
  if [ "$rc" -eq 0 ]; then
    printf '%-10s ok      %6ss  %s\n' "$name" "$dt" "$note"
  else
    printf '%-10s FAILED  %6ss  %s (exit %d)\n' "$name" "$dt" "$note" "$rc"
  fi
  return "$rc"
}

# elapsed T0: seconds since $EPOCHREALTIME value T0, one decimal.
elapsed() {
  local now=$EPOCHREALTIME
  awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# sha12: first 12 hex digits of the sha256 of stdin.
sha12() { sha256sum | cut -c1-12; }

# Print "URI SUITE..." for every `deb` source the host's apt knows, one per line.
# Handles both the deb822 (*.sources) and the one-line (*.list) formats.
host_apt_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # A stanza ends at a blank line; keep it only if Types contains "deb".
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uris != "") {
          n = split(uris, u, " ")
          for (i = 1; i <= n; i++) print u[i], suites
        }
        types = ""; uris = ""; suites = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "uris:"   { $1 = ""; uris = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      END { flush() }
    ' "$f" | sed 's/  */ /g; s/^ //'
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?\([^ \t]\+\)[ \t]\+\([^ \t]\+\).*/\2 \3/p' "$f"
  done
}

# Set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (env wins) from the host's apt
# configuration, so no mirror host name is ever written into this repository.
discover_mirrors() {
  local sources
  sources=$(host_apt_sources)
  if [ -z "${DEBIAN_MIRROR:-}" ]; then
    # The first source serving a suite that is not a -security suite.
    DEBIAN_MIRROR=$(awk '{ for (i = 2; i <= NF; i++) if ($i !~ /-security$/) { print $1; exit } }' <<<"$sources")
  fi
  if [ -z "${DEBIAN_SECURITY_MIRROR:-}" ]; then
    DEBIAN_SECURITY_MIRROR=$(awk '{ for (i = 2; i <= NF; i++) if ($i ~ /-security$/) { print $1; exit } }' <<<"$sources")
  fi
  [ -n "${DEBIAN_MIRROR:-}" ] || die "no Debian mirror found in the host's apt sources; set DEBIAN_MIRROR"
  # Hosts without a security source: Debian keeps the security archive next to the main one.
  : "${DEBIAN_SECURITY_MIRROR:=${DEBIAN_MIRROR%/debian}/debian-security}"
  DEBIAN_MIRROR=${DEBIAN_MIRROR%/}
  DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR%/}
  export DEBIAN_MIRROR DEBIAN_SECURITY_MIRROR
}

# Extra apt options the host relies on and that builds must repeat (e.g. mirrors
# serving snapshots whose Release files are past Valid-Until). Prints one
# `Key "value";` per line.
host_apt_extra_options() {
  apt-config dump 2>/dev/null | grep -E '^Acquire::Check-(Valid-Until|Date) "false";$' || true
}
