#!/bin/sh
# Entrypoint of dify-conformance/nginx, doing what the official nginx image's does
# for the parts Dify relies on: render /etc/nginx/templates/*.template into
# /etc/nginx/conf.d with envsubst, run /docker-entrypoint.d hooks, then exec the command.
set -eu

render_templates() {
    tdir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
    odir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
    suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
    [ -d "$tdir" ] || return 0
    if [ ! -w "$odir" ]; then
        echo "$0: $odir is not writable, not rendering templates" >&2
        return 0
    fi
    # Substitute only variables that are set, so nginx's own $host etc. survive.
    # awk's ENVIRON also copes with values that span lines.
    defined=$(awk 'BEGIN { for (k in ENVIRON) if (k ~ /^[A-Za-z_][A-Za-z0-9_]*$/) printf "${%s} ", k }')
    find "$tdir" -follow -type f -name "*$suffix" | while read -r template; do
        rel=${template#"$tdir"/}
        out="$odir/${rel%"$suffix"}"
        mkdir -p "$(dirname "$out")"
        envsubst "$defined" <"$template" >"$out"
        echo "$0: rendered $template to $out"
    done
}

if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
    render_templates
    for hook in /docker-entrypoint.d/*.sh; do
        [ -x "$hook" ] || continue
        echo "$0: running $hook"
        "$hook"
    done
fi

exec "$@"
