#!/bin/sh
# Renders webnbd.conf.template into an nginx site (stdout), or with --prefix DIR into a complete
# DIR/nginx.conf that an unprivileged user can run in the foreground:
#   nginx -p DIR -c nginx.conf -e stderr -g 'daemon off;'
set -eu

usage() {
    cat >&2 <<'USAGE'
usage: configure.sh --server-name NAME --listen PORT --cert FILE --key FILE --bridge HOST:PORT --root DIR [--htpasswd FILE] [--prefix DIR]
  --server-name  the public host name (the bridge needs --origin https://NAME[:PORT])
  --listen       [ADDRESS:]PORT nginx listens on for HTTPS (443 in production)
  --cert, --key  PEM certificate chain and key
  --bridge       where `webnbd bridge` listens (plain ws://, on loopback)
  --root         the built pages (dist/ from `npm run build`)
  --htpasswd     also require HTTP basic auth (users in FILE, htpasswd format) for pages and bridge
  --prefix       write DIR/nginx.conf, a whole configuration for a foreground nginx, instead
USAGE
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
name= listen= cert= key= bridge= root= prefix= htpasswd=
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
        --server-name) name=$2 ;;
        --listen) listen=$2 ;;
        --cert) cert=$2 ;;
        --key) key=$2 ;;
        --bridge) bridge=$2 ;;
        --root) root=$2 ;;
        --prefix) prefix=$2 ;;
        --htpasswd) htpasswd=$2 ;;
        *) usage ;;
    esac
    shift 2
done
[ -n "$name" ] && [ -n "$listen" ] && [ -n "$cert" ] && [ -n "$key" ] && [ -n "$bridge" ] && [ -n "$root" ] || usage
case $listen in *[!0-9A-Za-z.:\[\]]*|*:) echo "configure.sh: --listen: expected [ADDRESS:]PORT: $listen" >&2; exit 2 ;; esac
case $bridge in *[!0-9A-Za-z.:\[\]-]*|*:) echo "configure.sh: --bridge: expected HOST:PORT: $bridge" >&2; exit 2 ;; esac
case $name in *[!0-9A-Za-z.-]*) echo "configure.sh: --server-name: not a host name: $name" >&2; exit 2 ;; esac
for f in "$cert" "$key"; do [ -r "$f" ] || { echo "configure.sh: cannot read $f" >&2; exit 1; }; done
[ -d "$root" ] || { echo "configure.sh: --root $root: no such directory" >&2; exit 1; }
abs() { (cd "$(dirname "$1")" && printf '%s/%s' "$(pwd)" "$(basename "$1")"); }
auth='# (no basic auth: configure.sh --htpasswd FILE adds it)'
if [ -n "$htpasswd" ]; then
    [ -r "$htpasswd" ] || { echo "configure.sh: cannot read $htpasswd" >&2; exit 1; }
    auth="auth_basic \"webnbd\"; auth_basic_user_file $(abs "$htpasswd");"
fi

site() {
    # '|' as the sed delimiter: paths contain '/', and none of the values may contain '|'.
    sed -e "s|@SERVER_NAME@|$name|g" -e "s|@HOST@|$name|g" -e "s|@LISTEN@|$listen|g" \
        -e "s|@CERT@|$(abs "$cert")|g" -e "s|@KEY@|$(abs "$key")|g" \
        -e "s|@BRIDGE@|$bridge|g" -e "s|@ROOT@|$(cd "$root" && pwd)|g" -e "s|@AUTH@|$auth|" "$here/webnbd.conf.template"
}

if [ -z "$prefix" ]; then
    site
    exit 0
fi
mkdir -p "$prefix/logs" "$prefix/temp"
prefix=$(cd "$prefix" && pwd)
site > "$prefix/webnbd-site.conf"
cat > "$prefix/nginx.conf" <<CONF
# A whole nginx configuration for a foreground, unprivileged nginx (tests, trials).
worker_processes 1;
pid $prefix/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path $prefix/temp/body;
    proxy_temp_path $prefix/temp/proxy;
    fastcgi_temp_path $prefix/temp/fastcgi;
    uwsgi_temp_path $prefix/temp/uwsgi;
    scgi_temp_path $prefix/temp/scgi;
    include $prefix/webnbd-site.conf;
}
CONF
echo "$prefix/nginx.conf"
