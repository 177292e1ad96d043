#!/bin/sh
# Runs the Go peer's scenarios (hashicorp/yamux, or libp2p/go-yamux with
# INTEROP_LIB=goyamux) against an echo program in every role and transport,
# and prints a table. `make interop` uses interop/run-all.sh instead; this
# one is for checking the checker against another echo:
#
#   interop/run-hashicorp.sh [ECHO_CMD] [SCENARIOS]
#   interop/run-hashicorp.sh "interop/bin/go-peer --serve-echo --lib goyamux"
#
# ECHO_CMD defaults to build/examples/echo; SCENARIOS to "all" (a comma
# list, or "malformed"). INTEROP_TIMEOUT sets the per-scenario timeout.
# Exits non-zero if any scenario failed.
set -u
cd "$(dirname "$0")/.." || exit 2
PEER="interop/bin/go-peer --lib ${INTEROP_LIB:-hashicorp}"
ECHO=${1:-build/examples/echo}
SCEN=${2:-all}
TIMEOUT=${INTEROP_TIMEOUT:-120s}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

status=0
run() { # role transport cmd
  echo "== $PEER --role $1 --transport $2 --cmd \"$3\"" >&2
  $PEER --role "$1" --transport "$2" --cmd "$3" --scenario "$SCEN" \
    --timeout "$TIMEOUT" | tee /dev/stderr |
    awk -v role="$1" -v tr="$2" '
      /^# / && !lib { lib = $2; ver = $3; sub(",", "", ver) }
      /^SCENARIO / {
        d = ""; for (i = 5; i <= NF; i++) d = d (i > 5 ? " " : "") $i
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lib, ver, \
          role, tr, $2, $3, $4, d
      }' >>"$OUT"
}
run client stdio-spawn "$ECHO --server --stdio" || status=1
run client tcp-connect "$ECHO --server --listen {addr}" || status=1
run server tcp-listen "$ECHO --client --connect {addr}" || status=1
run server stdio-spawn "$ECHO --client --stdio" || status=1

echo
printf '%-16s %-7s %-6s %-12s %-24s %-6s %7s  %s\n' peer version role \
  transport scenario result secs detail
awk -F '\t' '{ printf "%-16s %-7s %-6s %-12s %-24s %-6s %7s  %s\n", \
  $1, $2, $3, $4, $5, $6, $7, substr($8, 1, 110) }' "$OUT"
pass=$(awk -F '\t' '$6 == "PASS"' "$OUT" | wc -l)
fail=$(awk -F '\t' '$6 == "FAIL"' "$OUT" | wc -l)
skip=$(awk -F '\t' '$6 == "SKIP"' "$OUT" | wc -l)
echo "hashicorp/yamux interop: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || status=1
exit $status
