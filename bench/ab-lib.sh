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
