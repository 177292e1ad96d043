#!/bin/sh
# The ABI check (abi/abi.sh, make abi-check) and the soname rule:
#   1. this tree against the last release's recorded ABI (make abi-check);
#   2. the check itself, on copies of this tree's library: against the
#      unchanged copy, a private field added to yamux_session_t and a
#      function made private must fail with the same soname, an added
#      function must pass, and the field change must pass once the version
#      moves so that the soname changes (0.x: next minor; else next major);
#   3. the soname each kind of version gets.
# Run from the source tree (test-abi.c does). Exit status 77 when abidw or
# abidiff is missing.
set -eu
for t in abidw abidiff; do
  command -v "$t" >/dev/null 2>&1 ||
    { echo "$t is not installed (Debian: abigail-tools)" >&2; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libyamux-abitest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
die() { echo "test-abi: $*" >&2; exit 1; }

# 1.
make --no-print-directory -s abi-check >"$tmp/check.log" 2>&1 ||
  { cat "$tmp/check.log" >&2; die "make abi-check failed on this tree"; }

# 2. Each copy: this tree's Makefile, include/ and src/, changed by a
# function run inside it, built with -O2 -g.
copy() { # name, function
  d="$tmp/$1"
  mkdir "$d"
  cp -R Makefile include src "$d/"
  (cd "$d" && "$2") || die "$1: the change no longer applies"
  make --no-print-directory -s -C "$d" O=build SAN= OPT="-O2 -g" \
    build/libyamux.so >"$d.log" 2>&1 || { cat "$d.log" >&2; die "$1: build"; }
}
check() { # name, expected (pass|fail)
  if sh abi/abi.sh check "$tmp/base.abi" "$tmp/$1/build/libyamux.so" \
       "$tmp/$1/include" >"$tmp/$1.check" 2>&1; then
    got=pass
  else
    got=fail
  fi
  [ "$got" = "$2" ] ||
    { cat "$tmp/$1.check" >&2; die "$1: the check says $got, want $2"; }
}

unchanged() { :; }
add_field() {
  sed -i '/^struct yamux_session_s {$/a\  void* abi_test_;' include/yamux.h
  grep -q abi_test_ include/yamux.h
}
hide_function() {
  sed -i 's/^const char\* yamux_version_string(void) {/static const char* yamux_abi_gone(void) __attribute__((unused));\nstatic const char* yamux_abi_gone(void) {/' src/errors.c
  grep -q yamux_abi_gone src/errors.c
}
add_function() {
  printf '%s\n' 'YAMUX_EXTERN int yamux_abi_test_added(void);' \
    'int yamux_abi_test_added(void) { return 1; }' >>src/errors.c
}
# The version step that changes the soname: 0.x: the next minor; else the
# next major.
next_version() {
  major=$(sed -n 's/^#define YAMUX_VERSION_MAJOR \([0-9]*\)$/\1/p' include/yamux.h)
  minor=$(sed -n 's/^#define YAMUX_VERSION_MINOR \([0-9]*\)$/\1/p' include/yamux.h)
  [ -n "$major" ] && [ -n "$minor" ] || return 1
  if [ "$major" = 0 ]; then minor=$((minor + 1)); else
    major=$((major + 1)) minor=0; fi
  sed -i -e "s/^#define YAMUX_VERSION_MAJOR .*/#define YAMUX_VERSION_MAJOR $major/" \
    -e "s/^#define YAMUX_VERSION_MINOR .*/#define YAMUX_VERSION_MINOR $minor/" \
    -e "s/^#define YAMUX_VERSION_PATCH .*/#define YAMUX_VERSION_PATCH 0/" \
    -e "s/^#define YAMUX_VERSION_STRING .*/#define YAMUX_VERSION_STRING \"$major.$minor.0\"/" \
    include/yamux.h
  grep -q "^#define YAMUX_VERSION_STRING \"$major.$minor.0\"" include/yamux.h
}
add_field_next_version() { add_field && next_version; }

copy base unchanged
sh abi/abi.sh dump "$tmp/base/build/libyamux.so" "$tmp/base/include" \
  "$tmp/base.abi"

copy layout add_field
check layout fail
grep -q "INCOMPATIBLE" "$tmp/layout.check" || die "layout: no verdict"
grep -q "yamux_session_s" "$tmp/layout.check" || die "layout: no report"

copy removed hide_function
check removed fail
grep -q "yamux_version_string" "$tmp/removed.check" || die "removed: no report"

copy added add_function
check added pass
grep -q "yamux_abi_test_added" "$tmp/added.check" || die "added: not reported"

copy bumped add_field_next_version
check bumped pass
grep -q "soname with it" "$tmp/bumped.check" || die "bumped: no soname verdict"

# 3.
for pair in 0.1.0=libyamux.so.0 0.1.9=libyamux.so.0 0.2.0=libyamux.so.0.2 \
            0.2.5=libyamux.so.0.2 0.10.1=libyamux.so.0.10 \
            1.0.0=libyamux.so.1 1.7.3=libyamux.so.1 2.0.0=libyamux.so.2; do
  got=$(make --no-print-directory -s abi-soname VERSION="${pair%%=*}")
  [ "$got" = "${pair#*=}" ] || die "version ${pair%%=*}: soname $got"
done
# And the library this tree builds carries its soname.
want=$(make --no-print-directory -s abi-soname)
readelf -d build-abi/libyamux.so | grep -q "Library soname: \[$want\]" ||
  die "build-abi/libyamux.so does not carry $want"
echo "abi test: ok ($(tail -n 1 "$tmp/check.log"))"
