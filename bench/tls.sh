#!/usr/bin/env bash
# W1 (shared/bench/WORKLOADS.md) over TLS on 127.0.0.1: one stream, SIZE bytes
# in 64 KiB writes, timed on the client from the first write to the sink's
# 1-byte ack. Mutual TLS (TLS 1.3), one session per run, each side its own
# process:
#
#   libyamux-tls      build/tls/tls-peer against itself (OpenSSL's default
#                     TLS 1.3 suite: TLS_AES_256_GCM_SHA384)
#   libyamux-tls/128  the same with TLS_AES_128_GCM_SHA256, the suite Go picks
#   hashicorp-tls     interop/bin/tls-peer against itself: hashicorp/yamux
#                     v0.1.2 over crypto/tls (TLS_AES_128_GCM_SHA256)
#
# Within a round the three run one after another, in an order that rotates
# from round to round. Prints every RESULT line, then per implementation the
# median, min and max MiB/s and CPU seconds per GiB (user + system, both
# processes, from /usr/bin/time: the figure that holds when other work
# shares the CPUs), and the same-round ratios against hashicorp-tls.
#
#   bench/tls.sh [ROUNDS [SIZE]]     default 5 rounds of 1 GiB
#   make tls-bench TLS_BENCH_ARGS="3 268435456"
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SIZE=${2:-1073741824}
C=build/tls/tls-peer
GO=interop/bin/tls-peer
for p in "$C" "$GO"; do
  [ -x "$p" ] || { echo "tls.sh: $p is missing (make tls tls-go-peer)" >&2; exit 1; }
done
timed() { # FILE COMMAND...: runs it, its user and system seconds to FILE
  /usr/bin/time -f "%U %S" -o "$1" "${@:2}"
}
[ -x /usr/bin/time ] || { echo "tls.sh: needs /usr/bin/time (Debian: time)" >&2; exit 1; }
PKI=$(mktemp -d /tmp/yamux-tls-bench.XXXXXX)
trap 'rm -rf "$PKI"' EXIT
"$C" gencerts "$PKI"
SRV=(--cert "$PKI/server.pem" --key "$PKI/server-key.pem" --ca "$PKI/ca.pem"
     --require-client-cert)
CLI=(--ca "$PKI/ca.pem" --servername server.test --cert "$PKI/client.pem"
     --key "$PKI/client-key.pem")

# run ROUND LABEL PROG [extra options]: one W1 run; its RESULT line goes to
# stdout, "ROUND LABEL MIBPS" to the results file.
run() {
  local round=$1 label=$2 prog=$3
  shift 3
  local out="$PKI/server.out" port="" i line
  : > "$out"
  timed "$PKI/t.srv" "$prog" "${SRV[@]}" "$@" --listen 0 --bytes "$SIZE" \
    sink > "$out" &
  local spid=$!
  for i in $(seq 200); do
    port=$(awk '/^PORT/{print $2}' "$out")
    [ -n "$port" ] && break
    sleep 0.02
  done
  line=$(timed "$PKI/t.cli" "$prog" "${CLI[@]}" "$@" --connect "$port" \
    --bytes "$SIZE" w1)
  wait "$spid"
  cpu=$(cat "$PKI/t.srv" "$PKI/t.cli" |
    awk -v s="$SIZE" '{c += $1 + $2} END {printf "%.3f", c / (s / 1073741824)}')
  echo "round=$round $line cpu_s_per_gib=$cpu"
  echo "$round $label $(sed -n 's/.* mibps=\([0-9.]*\).*/\1/p' <<<"$line") $cpu" \
    >> "$results"
}

impls=("libyamux-tls $C" "libyamux-tls/128 $C --ciphersuites TLS_AES_128_GCM_SHA256" "hashicorp-tls $GO")
results=$PKI/results
: > "$results"
for r in $(seq "$ROUNDS"); do
  n=${#impls[@]}
  for k in $(seq 0 $((n - 1))); do
    # shellcheck disable=SC2086
    run "$r" ${impls[$(((k + r) % n))]}
  done
done

stats() { # FORMAT, values on stdin: median min max
  sort -n | awk -v f="$1" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
    printf "median " f " min " f " max " f " (n=%d)", m, v[1], v[NR], NR}'
}
echo "# W1 over TLS, $ROUNDS rounds of $SIZE bytes, MiB/s"
for label in libyamux-tls libyamux-tls/128 hashicorp-tls; do
  printf '%-28s %s\n' "$label" \
    "$(awk -v l="$label" '$2==l {print $3}' "$results" | stats %.1f)"
done
for label in libyamux-tls libyamux-tls/128; do
  printf '%-28s %s\n' "$label / hashicorp-tls" "$(awk -v l="$label" '
    $2==l {a[$1]=$3} $2=="hashicorp-tls" {b[$1]=$3}
    END {for (r in a) if (r in b) printf "%.3f\n", a[r]/b[r]}' "$results" |
    stats %.2f)"
done
echo "# CPU seconds per GiB (both processes, user + system)"
for label in libyamux-tls libyamux-tls/128 hashicorp-tls; do
  printf '%-28s %s\n' "$label" \
    "$(awk -v l="$label" '$2==l {print $4}' "$results" | stats %.3f)"
done
for label in libyamux-tls libyamux-tls/128; do
  printf '%-28s %s\n' "$label / hashicorp-tls" "$(awk -v l="$label" '
    $2==l {a[$1]=$4} $2=="hashicorp-tls" {b[$1]=$4}
    END {for (r in a) if (r in b && b[r] > 0) printf "%.3f\n", a[r]/b[r]}' \
    "$results" | stats %.2f)"
done
