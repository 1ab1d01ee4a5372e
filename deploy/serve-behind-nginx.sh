#!/usr/bin/env bash
# The production image's entrypoint: nginx on the public port ($CDS_PORT, default 8080) in front of
# `cds-service serve` on the loopback ($UPSTREAM_PORT, default 8081). Why: gunicorn's threads each hold one
# connection until its request is read, so a few clients trickling headers would stall every call; nginx holds
# thousands of such connections and passes on only complete requests (README, "Running it in a hospital").
# Either process ending stops the other; SIGTERM stops both gracefully (nginx: QUIT, gunicorn: TERM).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
template="${NGINX_TEMPLATE:-$here/nginx.conf.template}"
public_port="${CDS_PORT:-8080}"
upstream_port="${UPSTREAM_PORT:-8081}"
run_dir="${NGINX_RUN_DIR:-${TMPDIR:-/tmp}/cds-nginx-$$}"
max_body="${CDS_MAX_CONTENT_LENGTH:-5242880}"
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root;"  # only on a developer's machine: the image runs as uid 10001
mkdir -p "$run_dir"
sed -e "s|@PORT@|$public_port|g" -e "s|@UPSTREAM_PORT@|$upstream_port|g" -e "s|@RUN_DIR@|$run_dir|g" \
    -e "s|@MAX_BODY@|$max_body|g" -e "s|@USER_LINE@|$user_line|g" "$template" > "$run_dir/nginx.conf"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
"$nginx_bin" -e stderr -t -q -c "$run_dir/nginx.conf"

CDS_PROXIES="${CDS_PROXIES:-1}" cds-service serve --host 127.0.0.1 --port "$upstream_port" &
app=$!
"$nginx_bin" -e stderr -c "$run_dir/nginx.conf" &
proxy=$!

stop() {
    kill -QUIT "$proxy" 2>/dev/null || true
    kill -TERM "$app" 2>/dev/null || true
}
signalled=0
trap 'signalled=1; stop' TERM INT
# Poll rather than `wait -n`: a process that ended before the wait began would be missed by some bash versions.
while [ "$signalled" -eq 0 ] && kill -0 "$app" 2>/dev/null && kill -0 "$proxy" 2>/dev/null; do
    sleep 1 & wait $! || true
done
status=0
if [ "$signalled" -eq 0 ]; then
    echo "serve-behind-nginx: $(kill -0 "$app" 2>/dev/null && echo nginx || echo cds-service) stopped; stopping the other" >&2
    status=1
fi
stop
wait "$app" 2>/dev/null || true
wait "$proxy" 2>/dev/null || true
rm -rf "$run_dir"
exit "$status"
