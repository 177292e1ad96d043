#!/usr/bin/env bash
# Checks that test-faults can fail: builds the library with one planted
# defect at a time (in a copy of the tree under a temporary directory) and
# runs the cells that must catch it. Every mutant must make its cells fail.
#
#   test/faults/mutants.sh            (after make test-faults built the tools)
#
# A mutant whose pattern no longer matches the source reports "not applied"
# and counts as a failure of this script: update the pattern.
set -u
cd "$(dirname "$0")/../.."
root=$PWD
peer=$root/interop/bin/go-peer
toxi=$root/build/toxiproxy/toxiproxy-server
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

# name # file # perl substitution # cells that must fail
mutants=(
  "eof-hides-truncation#src/session.c#s/(int yamux__stream_error_status\(.*?)return UV_ECONNABORTED;/\$1return UV_EOF;/s#limit_data/body/hashicorp/client,slow_close/peer/goyamux/server"
  "pings-never-fail#src/session.c#s/fail_pings\(s, stream_status\);/(void)fail_pings;/#timeout/hashicorp/client"
  "keepalive-3x-late#src/session.c#s/(keepalive_deadline = now \+ )MS\(s->cfg.keepalive_timeout_ms\)/\$1 3 * MS(s->cfg.keepalive_timeout_ms)/#timeout/goyamux/server"
  "keepalive-early#src/session.c#s/(keepalive_deadline = now \+ )MS\(s->cfg.keepalive_timeout_ms\)/\$1 MS(s->cfg.keepalive_timeout_ms) \/ 4/#timeout/goyamux/client"
  "leak#src/session.c#s/yamux__free\(&mem, s->pongs\);/(void)0;/#latency/hashicorp/client"
  "drop-buffered-at-end#src/stream.c#s/if \(status == UV_ECANCELED && s->closing\) \{/if (s->ended || (status == UV_ECANCELED && s->closing)) {/#limit_data/body/goyamux/server"
  "split-body-shift#src/session.c#s/yamux__stream_on_data\(s->body_stream, \(const char\*\)p, n\);/yamux__stream_on_data(s->body_stream, (const char*)p + (n < 5 && s->body_left > n), n);/#slicer/goyamux/client"
)

bad=0
for m in "${mutants[@]}"; do
  IFS='#' read -r name file subst cells <<<"$m"
  d=$tmp/$name
  mkdir -p "$d"
  cp -r Makefile mk src include test "$d"/
  perl -0pi -e "$subst" "$d/$file"
  if cmp -s "$file" "$d/$file"; then
    echo "mutant $name: not applied (the pattern no longer matches $file)"
    bad=1
    continue
  fi
  if ! make -s -C "$d" O=build-asan SAN=asan build-asan/faults/yxfault \
       >"$d/build.log" 2>&1; then
    echo "mutant $name: does not build (see $d/build.log)"
    bad=1
    continue
  fi
  "$peer" --faults --toxiproxy "$toxi" --cside "$d/build-asan/faults/yxfault" \
    --cells "$cells" >"$d/out" 2>/dev/null
  IFS=',' read -ra want <<<"$cells"
  missed=()
  for c in "${want[@]}"; do
    row=${c%/*/*} rest=${c#"$row"/} lib=${rest%/*} role=${rest#*/}
    if ! grep -Eq "^$row +$lib +$role +FAIL" "$d/out"; then
      missed+=("$c")
    fi
  done
  if [ ${#missed[@]} -gt 0 ]; then
    echo "mutant $name: NOT caught by ${missed[*]}"
    bad=1
  else
    why=$(grep -m1 'C side stderr: yxfault' "$d/out" ||
          grep -m1 '^    - ' "$d/out")
    why=$(echo "$why" | sed 's/^ *- //; s/C side stderr: //' | cut -c1-150)
    echo "mutant $name: caught ($why)"
  fi
done
exit $bad
