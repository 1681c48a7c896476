#!/usr/bin/env bash
# Benchmark: a 1 GiB blob from nginx on loopback through HTTPClient's file sink (gathered 256 KiB
# writes + SHA-256, pipelined on a queue or on the loop thread), side by side with the curl
# command-line tool on the same file. The pipelined digest is checked against openssl's.
# Reports MiB/s and peak RSS (GNU time's %M) per run, medians over RUNS runs.
#
# usage: Benchmarks/upstream-client/run.sh [RUNS] [SIZE_MIB]
# needs: nginx (nginx-light), curl, openssl, /usr/bin/time (package time); builds UpstreamClientBench in release.
set -euo pipefail
RUNS=${1:-5}
SIZE_MIB=${2:-1024}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/wharf-bench-XXXXXX)
NGINX_PID=""
cleanup() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

(cd "$ROOT" && nice -n 10 swift build -c release --product UpstreamClientBench >/dev/null)
BENCH="$ROOT/.build/release/UpstreamClientBench"

mkdir -p "$WORK/www" "$WORK/out"
chmod 755 "$WORK" "$WORK/www"  # nginx workers run as www-data
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/www/blob"
WANT="sha256:$(openssl dgst -sha256 -r "$WORK/www/blob" | cut -d' ' -f1)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/blob" -r 0-0 && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/blob"
cat "$WORK/www/blob" > /dev/null  # page cache warm

# Prints "MiB/s peakRSS_KiB cpu_seconds" for one timed command writing to $WORK/out/f.
measure() {
  rm -f "$WORK/out/f"; sync
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/time.txt" "$@" > "$WORK/cmd.txt"
  t1=$(date +%s.%N)
  python3 -c "m, u, s = open('$WORK/time.txt').read().split()[-3:]; print('%.0f %s %.2f' % ($SIZE_MIB / ($t1 - $t0), m, float(u) + float(s)))"
}

declare -A RESULTS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq "$RUNS"); do
  RESULTS[curl_file]+="$(measure curl -sf -o "$WORK/out/f" "$URL")"$'\n'
  RESULTS[wharf_hash]+="$(measure "$BENCH" "$URL" "$WORK/out/f")"$'\n'
  GOT=$(python3 -c "import json; print(json.load(open('$WORK/cmd.txt'))['digest'])")
  [ "$GOT" = "$WANT" ] || { echo "digest mismatch: $GOT != $WANT" >&2; cat "$WORK/cmd.txt" >&2; exit 1; }
  RESULTS[wharf_loophash]+="$(measure "$BENCH" "$URL" "$WORK/out/f" --loop-hash)"$'\n'
  RESULTS[wharf_nohash]+="$(measure "$BENCH" "$URL" "$WORK/out/f" --no-hash)"$'\n'
  RESULTS[curl_null]+="$(measure curl -s -o /dev/null "$URL")"$'\n'
done

echo "SHA-256 ceiling now (in memory, one core): $("$BENCH" "$SIZE_MIB" - --hash-only | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash_only_mib_per_s"])') MiB/s"
echo "1 x ${SIZE_MIB} MiB from nginx (sendfile) on loopback, $RUNS runs, medians; output to a file on $(df --output=fstype "$WORK" | tail -1)"
echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)"
printf "%-42s %10s %10s %14s %16s\n" "client" "MiB/s" "best" "peak RSS MiB" "client CPU-s/GiB"
for key in curl_file wharf_hash wharf_loophash wharf_nohash curl_null; do
  case $key in
    curl_file) label="curl -o file";;
    wharf_hash) label="HTTPClient file sink, SHA-256 pipelined";;
    wharf_loophash) label="HTTPClient file sink, SHA-256 on loop";;
    wharf_nohash) label="HTTPClient file sink, no hash";;
    curl_null) label="curl -o /dev/null";;
  esac
  printf "%s" "${RESULTS[$key]}" | python3 -c "
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
speeds = [float(r[0]) for r in rows]; rss = [int(r[1]) / 1024 for r in rows]; cpu = [float(r[2]) * 1024 / $SIZE_MIB for r in rows]
print('%-42s %10.0f %10.0f %14.1f %16.2f   (runs: %s)' % ('$label', statistics.median(speeds), max(speeds), max(rss), statistics.median(cpu), ' '.join('%.0f' % s for s in speeds)))"
done
