# Sourced by bench/compare, bench/ab-serve and bench/ab-day: the set-up of ab-serve and
# ab-day on a kept `bench/compare` work folder, and the readings all three take from /proc.

# ab_setup WORK REDIS_PORT VITRINE: a fresh redis-server on REDIS_PORT holding the map of
# WORK/hosts.txt (imported with VITRINE). Sets redis_pid, vitrine_pid (empty), ab_tmp (a temp
# folder removed on exit, with redis-server and any vitrine_pid still running) and styles
# (WORK/stylesheets when there is one, as after `--theme-file`, else the repository's), and
# WORK/sites read into the page cache.
ab_setup() {
  local work=$1 redis_port=$2 vitrine=$3
  ab_tmp=$(mktemp -d)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$ab_tmp" --logfile /dev/null &
  redis_pid=$!
  vitrine_pid=""
  trap 'kill $redis_pid $vitrine_pid 2>/dev/null || true; rm -rf "$ab_tmp"' EXIT
  sleep 1
  awk '{ print $1, $2 }' "$work/hosts.txt" |
    "$vitrine" domains --redis "redis://127.0.0.1:$redis_port/" --sites "$work/sites" import - >/dev/null
  styles=$work/stylesheets
  [ -d "$styles" ] || styles=stylesheets
  # A kept folder's files may have been paged out since (bench/README.md, "The page cache"):
  # read them back, or the first binary measured pays for the disk.
  warm_files "$work/sites"
}

# warm_files DIR: every file of DIR read once, into the page cache.
warm_files() {
  find "$1" -type f -print0 | xargs -0 cat > /dev/null
}

# ticks PID...: user + system CPU of the processes, in clock ticks (getconf CLK_TCK per second).
ticks() {
  local s=0 f p
  for p in "$@"; do f=($(sed 's/^.*) //' "/proc/$p/stat")); s=$((s + f[11] + f[12])); done
  echo "$s"
}

# proc_sum FILE KEY PID...: the sum over the processes of the value on the `KEY:` line of
# /proc/PID/FILE.
proc_sum() {
  local file=$1 key=$2 s=0 v p
  shift 2
  for p in "$@"; do v=$(awk -v k="$key:" '$1 == k { print $2 }' "/proc/$p/$file"); s=$((s + v)); done
  echo "$s"
}

# peak_rss_kb PID...: peak resident memory of the processes, in KiB.
peak_rss_kb() { proc_sum status VmHWM "$@"; }

# storage_reads PID...: bytes the processes made the kernel read from storage (page cache
# misses).
storage_reads() { proc_sum io read_bytes "$@"; }

# nginx_xslt_conf WORK SITES STYLESHEETS DIRECTIVE...: on stdout, the nginx configuration
# that does Vitrine's job with ngx_http_xslt_filter_module (Host -> site XML through an nginx
# map of WORK/hosts.txt, "HOST FILE THEME" lines, the same theme stylesheets with the same
# page parameter, no cache); writes the two maps into WORK. Each DIRECTIVE (listen,
# ssl_certificate ...) goes into the server block.
nginx_xslt_conf() {
  local work=$1 sites=$2 styles=$3; shift 3
  awk '{ print $1, $2 ";" }' "$work/hosts.txt" > "$work/nginx-xml.map"
  awk '{ print $1, $3 ";" }' "$work/hosts.txt" > "$work/nginx-theme.map"
  local t d
  cat <<CONF
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
load_module ${NGINX_XSLT_MODULE:-/usr/lib/nginx/modules/ngx_http_xslt_filter_module.so};
events { worker_connections 4096; }
http {
  access_log off;
  map_hash_max_size 1048576;
  map_hash_bucket_size 128;
  map \$host \$site_xml { hostnames; include $work/nginx-xml.map; }
  map \$host \$site_theme { hostnames; include $work/nginx-theme.map; }
  # "/" is the home page (empty page parameter, as Vitrine passes the first page's id);
  # "/<id>" a named page.
  map \$request_uri \$page_id { default ""; ~^/(?<p>[a-z0-9][a-z0-9-]*)\$ \$p; }
  server {
    # Give listen "reuseport": one listening socket per worker, so the kernel spreads
    # connections over both workers. Without it, wrk's 32 connections, opened at once, often
    # all land on one worker, and nginx runs on one core (seen: 1,132 pages/s and one idle
    # worker, against 2,286 with reuseport, same config otherwise).
CONF
  for d in "$@"; do echo "    $d"; done
  cat <<CONF
    location / {
      if (\$site_xml = "") { return 404; }
      rewrite ^ /__theme_\$site_theme last;
    }
CONF
  for t in $(awk '{ print $3 }' "$work/hosts.txt" | sort -u); do
    cat <<CONF
    location = /__theme_$t {
      internal;
      default_type text/xml;
      alias $sites/\$site_xml;
      xslt_stylesheet $styles/$t.xsl;
      xslt_string_param page \$page_id;
      xslt_string_param host \$host;
      xslt_string_param status '200';
    }
CONF
  done
  echo "  }"
  echo "}"
}
