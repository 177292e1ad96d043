#!/bin/sh
# Runs the whole interop matrix -- peer x role x transport x scenario -- and
# prints ONE table: peer, version, role, transport, scenario, result, time.
#
#   interop/run-all.sh [PEER...]
#
# PEER is one of (default: every peer whose program is built):
#   hashicorp   interop/bin/go-peer --lib hashicorp   vs build/examples/echo
#   goyamux     interop/bin/go-peer --lib goyamux     vs build/examples/echo
#   rust        interop/bin/rust-yamux-peer           vs build/examples/echo
#   js          interop/js (node)                     vs build/examples/echo
#   cdrive-hashicorp, cdrive-goyamux
#               the C side opens: build/interop/yxdrive against go-peer
#
# Every echo peer runs its scenario list in four cells: the peer's role
# client or server, over the C program's stdio (the peer spawns it) or TCP.
# The cdrive peers run the c_* scenarios with the Go peer spawning the C
# driver (stdio-spawn) and over TCP, plus c_open_many and c_close_open with
# the C driver spawning the Go echo (transport "stdio-spawned").
# INTEROP_SCENARIOS (default all) narrows the list; INTEROP_TIMEOUT (default
# 120s) is the per-scenario timeout. INTEROP_ECHO (default
# build/examples/echo) is the echo program the echo peers talk to, e.g.
# INTEROP_ECHO="interop/bin/go-peer --serve-echo" to check the checker
# against hashicorp's own echo; NODE (default node) runs the JS peer.
# Every make interop-* target runs this script with one or more PEERs. Each peer's own output goes to stderr as
# it runs; the table goes to stdout at the end. Exits 1 if any cell failed
# (or a peer program died without reporting), 0 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2
ECHO=${INTEROP_ECHO:-build/examples/echo}
DRIVE=${INTEROP_DRIVE:-build/interop/yxdrive}
SCEN=${INTEROP_SCENARIOS:-all}
TIMEOUT=${INTEROP_TIMEOUT:-120s}
OUT=$(mktemp)
LOG=$(mktemp)
trap 'rm -f "$OUT" "$LOG"' EXIT

peer_cmd() { # name -> the peer program's command line prefix
  case $1 in
    hashicorp|cdrive-hashicorp) echo "interop/bin/go-peer --lib hashicorp" ;;
    goyamux|cdrive-goyamux) echo "interop/bin/go-peer --lib goyamux" ;;
    rust) echo "interop/bin/rust-yamux-peer" ;;
    js)
      if [ -x interop/bin/js-yamux-peer ]; then echo interop/bin/js-yamux-peer
      else echo "${NODE:-node} interop/js/peer.mjs"; fi ;;
    *) return 1 ;;
  esac
}

peer_built() {
  case $1 in
    hashicorp|goyamux) [ -x interop/bin/go-peer ] ;;
    cdrive-*) [ -x interop/bin/go-peer ] && [ -x "$DRIVE" ] ;;
    rust) [ -x interop/bin/rust-yamux-peer ] ;;
    js) [ -x interop/bin/js-yamux-peer ] || [ -d interop/js/node_modules ] ;;
    *) return 1 ;;
  esac
}

if [ $# -eq 0 ]; then
  for p in hashicorp goyamux rust js cdrive-hashicorp cdrive-goyamux; do
    peer_built "$p" && set -- "$@" "$p"
  done
fi

status=0
row() { # peer version role transport scenario result secs detail
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT"
}

run() { # peer role transport cmd scenarios
  name=$1 role=$2 tr=$3 cmd=$4 scen=$5
  pcmd=$(peer_cmd "$name")
  echo "== $pcmd --role $role --transport $tr --cmd \"$cmd\" --scenario $scen" >&2
  # shellcheck disable=SC2086 # pcmd is a command line
  $pcmd --role "$role" --transport "$tr" --cmd "$cmd" --scenario "$scen" \
    --timeout "$TIMEOUT" >"$LOG" 2>&1
  rc=$?
  cat "$LOG" >&2
  n=$(grep -c '^SCENARIO ' "$LOG")
  awk -v role="$role" -v tr="$tr" '
    /^# / && !hdr { lib = $2; ver = $3; sub(",", "", ver); hdr = 1 }
    /^SCENARIO / {
      d = ""; for (i = 5; i <= NF; i++) d = d (i > 5 ? " " : "") $i
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lib, ver, role, tr, $2, \
        $3, $4, d
    }' "$LOG" >>"$OUT"
  if [ "$rc" -ne 0 ] && ! grep -q '^SCENARIO .* FAIL ' "$LOG"; then
    # The peer program failed without a failing scenario line: count it.
    row "$name" "?" "$role" "$tr" "(peer program)" FAIL 0 \
      "exit $rc after $n scenario lines: $(tail -n 1 "$LOG")"
  fi
}

# spawned peer scenario: yxdrive runs the Go echo as its child.
spawned() {
  lib=${1#cdrive-}
  ver=$(interop/bin/go-peer --lib "$lib" --version)
  cmd="$DRIVE --client --spawn \"interop/bin/go-peer --serve-echo --lib $lib --server --stdio\" --scenario $2"
  echo "== $cmd" >&2
  start=$(date +%s.%N)
  timeout 120 "$DRIVE" --client --spawn \
    "interop/bin/go-peer --serve-echo --lib $lib --server --stdio" \
    --scenario "$2" >"$LOG" 2>&1
  rc=$?
  secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }')
  cat "$LOG" >&2
  res=PASS
  [ "$rc" -eq 0 ] || res=FAIL
  # shellcheck disable=SC2086 # ver is "name version"
  row $ver server stdio-spawned "c_$2" "$res" "$secs" \
    "exit $rc: $(tail -n 1 "$LOG")"
}

for p in "$@"; do
  if ! peer_built "$p"; then
    row "$p" "?" "-" "-" "(not built)" FAIL 0 "peer program missing"
    continue
  fi
  case $p in
    cdrive-*)
      # go-peer runs the Go side; yxdrive (the C side) opens the streams.
      run "$p" client stdio-spawn "$DRIVE --server --stdio" cdrive
      run "$p" server tcp-listen "$DRIVE --client --connect {addr}" cdrive
      # The C side spawns the Go peer (yamux over the child's stdio).
      for sc in open_many close_open; do
        spawned "$p" "$sc"
      done
      ;;
    *)
      run "$p" client stdio-spawn "$ECHO --server --stdio" "$SCEN"
      run "$p" client tcp-connect "$ECHO --server --listen {addr}" "$SCEN"
      run "$p" server tcp-listen "$ECHO --client --connect {addr}" "$SCEN"
      run "$p" server stdio-spawn "$ECHO --client --stdio" "$SCEN"
      ;;
  esac
done

echo
printf '%-24s %-8s %-6s %-13s %-26s %-6s %7s\n' peer version role transport \
  scenario result time
awk -F '\t' '{ printf "%-24s %-8s %-6s %-13s %-26s %-6s %7s\n", \
  $1, $2, $3, $4, $5, $6, $7 }' "$OUT"
fails=$(awk -F '\t' '$6 != "PASS" && $6 != "SKIP"' "$OUT")
if [ -n "$fails" ]; then
  echo
  echo "failed cells:"
  echo "$fails" | awk -F '\t' '{ printf "  %s %s %s %s %s: %s\n", \
    $1, $3, $4, $5, $6, $8 }'
fi
pass=$(awk -F '\t' '$6 == "PASS"' "$OUT" | wc -l)
fail=$(awk -F '\t' '$6 != "PASS" && $6 != "SKIP"' "$OUT" | wc -l)
skip=$(awk -F '\t' '$6 == "SKIP"' "$OUT" | wc -l)
total=$(awk -F '\t' '{ t += $7 } END { printf "%.0f", t }' "$OUT")
echo "interop: $pass passed, $fail failed, $skip skipped (${total}s in scenarios)"
[ "$fail" -eq 0 ] || status=1
exit $status
