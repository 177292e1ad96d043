#!/bin/sh
# ABI descriptions and checks of libyamux.so with libabigail (abidw,
# abidiff; Debian: abigail-tools). See abi/README.md.
#
#   abi/abi.sh dump SO HEADERS OUT        write SO's ABI (types from the public
#                                         headers in HEADERS only) to OUT
#   abi/abi.sh check BASELINE SO HEADERS  compare SO with BASELINE (an .abi
#                                         file or a library); fails on an
#                                         incompatible change unless the
#                                         soname changed with it
#   abi/abi.sh baseline REF [OUTDIR]      build libyamux.so (-O2 -g) from the
#                                         git commit REF and write its ABI to
#                                         OUTDIR/libyamux-VERSION.abi
#   abi/abi.sh latest VERSION             the newest abi/libyamux-*.abi not
#                                         newer than VERSION
#
# Exit status: 0 ok, 1 failed (an ABI break without a new soname, or an
# error), 77 abidw/abidiff missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

need_tools() {
  for t in abidw abidiff; do
    command -v "$t" >/dev/null 2>&1 ||
      { echo "abi: $t is not installed (Debian: abigail-tools)" >&2; exit 77; }
  done
}

# The same options for every description, so that two of them differ only
# where the library does: public types only, no build paths.
dump() { # so headers out
  abidw --headers-dir "$2" --drop-private-types --drop-undefined-syms \
    --no-corpus-path --no-comp-dir-path --short-locs --out-file "$3" "$1"
}

soname_of() { # .abi file
  sed -n "1s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1"
}

cmd=${1:-}
case "$cmd" in
dump)
  [ $# = 4 ] || { echo "usage: $0 dump SO HEADERS OUT" >&2; exit 1; }
  need_tools
  dump "$2" "$3" "$4"
  ;;

check)
  [ $# = 4 ] || { echo "usage: $0 check BASELINE SO HEADERS" >&2; exit 1; }
  need_tools
  base=$2 so=$3 headers=$4
  base_name=$(basename "$base")
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/libyamux-abi.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  case "$base" in
  *.abi) ;;
  *) dump "$base" "$headers" "$tmp/base.abi"; base=$tmp/base.abi ;;
  esac
  dump "$so" "$headers" "$tmp/cur.abi"
  old=$(soname_of "$base")
  new=$(soname_of "$tmp/cur.abi")
  [ -n "$old" ] && [ -n "$new" ] ||
    { echo "abi: no soname in $base or $so" >&2; exit 1; }
  set --
  if [ -f "$here/libyamux.abignore" ]; then
    set -- --suppressions "$here/libyamux.abignore"
  fi
  # Added functions and variables are compatible: left out of the verdict,
  # shown in the report.
  status=0
  abidiff --no-added-syms "$@" "$base" "$tmp/cur.abi" >"$tmp/verdict" ||
    status=$?
  abidiff "$@" "$base" "$tmp/cur.abi" >"$tmp/report" || true
  echo "abi: $base_name ($old) against $so ($new)"
  if [ $((status & 3)) != 0 ]; then
    cat "$tmp/verdict" >&2
    echo "abi: abidiff failed (status $status)" >&2
    exit 1
  fi
  if [ "$status" = 0 ]; then
    if grep -q '^[0-9]* Added' "$tmp/report"; then
      sed -n '/Added/,$p' "$tmp/report"
      echo "abi: compatible (additions only), soname $new"
    else
      echo "abi: no ABI change, soname $new"
    fi
    exit 0
  fi
  cat "$tmp/report"
  if [ "$old" != "$new" ]; then
    echo "abi: the ABI changed and the soname with it ($old -> $new): ok"
    exit 0
  fi
  echo "abi: INCOMPATIBLE ABI change with the same soname $new:" \
    "change the soname (for 0.x: a new minor version) or undo the change" \
    "(a reviewed compatible change can be suppressed in abi/libyamux.abignore)" >&2
  exit 1
  ;;

baseline)
  [ $# -ge 2 ] || { echo "usage: $0 baseline REF [OUTDIR]" >&2; exit 1; }
  need_tools
  ref=$2 out=${3:-$here}
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/libyamux-abi.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  git -C "$here/.." archive "$ref" | tar -x -C "$tmp"
  make --no-print-directory -s -C "$tmp" O=build OPT="-O2 -g" SAN= \
    build/libyamux.so >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; exit 1; }
  version=$(sed -n 's/^#define YAMUX_VERSION_STRING "\(.*\)"/\1/p' \
    "$tmp/include/yamux.h")
  dump "$tmp/build/libyamux.so" "$tmp/include" "$out/libyamux-$version.abi"
  echo "abi: wrote $out/libyamux-$version.abi (commit $(git -C "$here/.." \
    rev-parse --short "$ref"), soname $(soname_of "$out/libyamux-$version.abi"))"
  ;;

latest)
  [ $# = 2 ] || { echo "usage: $0 latest VERSION" >&2; exit 1; }
  best=
  for f in "$here"/libyamux-*.abi; do
    [ -f "$f" ] || continue
    v=${f##*/libyamux-}
    v=${v%.abi}
    # v <= VERSION, and newer than the best so far.
    [ "$(printf '%s\n%s\n' "$v" "$2" | sort -V | head -n 1)" = "$v" ] ||
      continue
    if [ -z "$best" ] ||
       [ "$(printf '%s\n%s\n' "$v" "$best" | sort -V | tail -n 1)" = "$v" ]; then
      best=$v
    fi
  done
  [ -n "$best" ] || { echo "abi: no baseline for $2 in $here" >&2; exit 1; }
  echo "$here/libyamux-$best.abi"
  ;;

*)
  sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 1
  ;;
esac
