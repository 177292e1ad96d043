#!/bin/sh
# Installs libyamux into a temporary prefix and builds examples/hello.c out
# of tree against the installed copy with pkg-config, then runs it against
# build/examples/echo. Run from the source tree (test-install.c does).
set -eu
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libyamux-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$(pwd)
CC=${CC:-cc}

make --no-print-directory -s install PREFIX="$tmp" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; echo "make install failed" >&2; exit 1; }
for f in include/yamux.h lib/libyamux.a lib/libyamux.so \
         lib/pkgconfig/libyamux.pc bin/yamux-echo; do
  [ -e "$tmp/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done

# The yamux command and its man page, when this tree has them (tools/).
if [ -f tools/yamux.c ]; then
  for f in bin/yamux share/man/man1/yamux.1; do
    [ -e "$tmp/$f" ] || { echo "not installed: $f" >&2; exit 1; }
  done
  LD_LIBRARY_PATH="$tmp/lib" "$tmp/bin/yamux" --version >/dev/null ||
    { echo "installed yamux --version failed" >&2; exit 1; }
fi

export PKG_CONFIG_PATH="$tmp/lib/pkgconfig"
[ "$(pkg-config --modversion libyamux)" = \
  "$(sed -n 's/^#define YAMUX_VERSION_STRING "\(.*\)"/\1/p' include/yamux.h)" ] ||
  { echo "pkg-config reports the wrong version" >&2; exit 1; }

# Out of tree: a copy of the example in an empty directory, nothing from
# the source tree on the include or library path; the README's command
# (the compiler's default C dialect: uv.h needs POSIX types that a strict
# -std=c11 hides unless _GNU_SOURCE or _POSIX_C_SOURCE is defined).
mkdir "$tmp/app"
cp examples/hello.c "$tmp/app/"
cd "$tmp/app"
# shellcheck disable=SC2046
$CC -Wall -Werror -o hello hello.c \
  $(pkg-config --cflags --libs libyamux)
# The shared library from the prefix, not from build/.
LD_LIBRARY_PATH="$tmp/lib" ldd ./hello | grep -q "$tmp/lib/libyamux.so" ||
  { echo "hello is not linked to the installed libyamux.so" >&2; exit 1; }
out=$(LD_LIBRARY_PATH="$tmp/lib" ./hello "$src/build/examples/echo")
[ "$out" = "hello, yamux" ] ||
  { echo "hello printed: $out" >&2; exit 1; }
# With no argument it finds the installed echo peer (yamux-echo) on PATH.
out=$(PATH="$tmp/bin:$PATH" LD_LIBRARY_PATH="$tmp/lib" ./hello)
[ "$out" = "hello, yamux" ] ||
  { echo "hello (installed yamux-echo) printed: $out" >&2; exit 1; }

# Static linking works too.
# shellcheck disable=SC2046
$CC -Wall -Werror -o hello-static hello.c -I"$tmp/include" \
  "$tmp/lib/libyamux.a" $(pkg-config --libs libuv) -lm -lpthread
out=$(./hello-static "$src/build/examples/echo")
[ "$out" = "hello, yamux" ] ||
  { echo "hello-static printed: $out" >&2; exit 1; }
echo "install test: ok ($tmp)"
