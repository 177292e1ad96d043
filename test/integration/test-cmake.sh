#!/bin/sh
# Installs libyamux twice into a temporary directory and builds
# examples/hello.c out of tree with CMake against each installed copy
# (find_package(libyamux), libyamux::libyamux and
# libyamux::libyamux_static), then runs the programs against
# build/examples/echo:
#   - staged: make install DESTDIR=<tmp>/stage PREFIX=/opt/libyamux, used
#     from <tmp>/stage/opt/libyamux (the package must find itself where it
#     is, not where PREFIX said);
#   - multiarch: PREFIX=<tmp>/usr LIBDIR=<tmp>/usr/lib/x86_64-linux-gnu.
# Also checks the version rules of libyamuxConfigVersion.cmake. Run from the
# source tree (test-cmake.c does). Exit status 77 when cmake is missing.
set -eu
command -v cmake >/dev/null 2>&1 || { echo "cmake is not installed" >&2; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libyamux-cmake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$(pwd)
version=$(sed -n 's/^#define YAMUX_VERSION_STRING "\(.*\)"/\1/p' include/yamux.h)
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}

die() { echo "test-cmake: $*" >&2; exit 1; }

install_copy() { # name, make arguments...
  name=$1
  shift
  make --no-print-directory -s install "$@" >"$tmp/install-$name.log" 2>&1 ||
    { cat "$tmp/install-$name.log" >&2; die "make install $* failed"; }
}

install_copy staged DESTDIR="$tmp/stage" PREFIX=/opt/libyamux
install_copy multiarch PREFIX="$tmp/usr" LIBDIR="$tmp/usr/lib/x86_64-linux-gnu"
for f in stage/opt/libyamux/lib/cmake/libyamux/libyamuxConfig.cmake \
         stage/opt/libyamux/lib/cmake/libyamux/libyamuxConfigVersion.cmake \
         usr/lib/x86_64-linux-gnu/cmake/libyamux/libyamuxConfig.cmake \
         usr/lib/x86_64-linux-gnu/cmake/libyamux/libyamuxConfigVersion.cmake; do
  [ -f "$tmp/$f" ] || die "not installed: $f"
done

# The consumer: a copy of the example, nothing from the source tree.
mkdir "$tmp/app"
cp examples/hello.c "$tmp/app/"
cat >"$tmp/app/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.10)
project(hello C)
find_package(libyamux $major.$minor REQUIRED)
if(NOT libyamux_VERSION STREQUAL "$version")
  message(FATAL_ERROR "libyamux_VERSION is \${libyamux_VERSION}")
endif()
add_executable(hello hello.c)
target_link_libraries(hello PRIVATE libyamux::libyamux)
add_executable(hello_static hello.c)
target_link_libraries(hello_static PRIVATE libyamux::libyamux_static)
EOF

build_and_run() { # name, prefix, libdir
  name=$1 prefix=$2 libdir=$3
  b="$tmp/build-$name"
  cmake -S "$tmp/app" -B "$b" -DCMAKE_PREFIX_PATH="$prefix" \
    >"$b.log" 2>&1 || { cat "$b.log" >&2; die "$name: cmake failed"; }
  cmake --build "$b" >>"$b.log" 2>&1 ||
    { cat "$b.log" >&2; die "$name: the build failed"; }
  # The shared program uses the installed library (CMake's build RPATH),
  # the static one no libyamux.so at all.
  ldd "$b/hello" | grep -q "$libdir/libyamux.so" ||
    { ldd "$b/hello" >&2; die "$name: hello is not linked to $libdir"; }
  if ldd "$b/hello_static" | grep -q libyamux; then
    die "$name: hello_static needs a libyamux.so"
  fi
  for p in hello hello_static; do
    out=$(env -u LD_LIBRARY_PATH "$b/$p" "$src/build/examples/echo")
    [ "$out" = "hello, yamux" ] || die "$name: $p printed: $out"
  done
}

build_and_run staged "$tmp/stage/opt/libyamux" "$tmp/stage/opt/libyamux/lib"
build_and_run multiarch "$tmp/usr" "$tmp/usr/lib/x86_64-linux-gnu"

# Version requests: while the major version is 0 only the same minor fits.
mkdir "$tmp/ver"
cat >"$tmp/ver/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.10)
project(ver C)
find_package(libyamux ${REQ} REQUIRED)
EOF
want() { # request, expected result (ok|no)
  rm -rf "$tmp/ver/b"
  if cmake -S "$tmp/ver" -B "$tmp/ver/b" -DCMAKE_PREFIX_PATH="$tmp/usr" \
       "-DREQ=$1" >"$tmp/ver.log" 2>&1; then got=ok; else got=no; fi
  [ "$got" = "$2" ] ||
    { cat "$tmp/ver.log" >&2; die "find_package(libyamux $1): $got, want $2"; }
}
want "$major.$minor" ok
want "$version;EXACT" ok
want "$major.$((minor + 1))" no
want "$((major + 1)).0" no
if [ "$major" = 0 ] && [ "$minor" -gt 0 ]; then
  want "0.$((minor - 1))" no
fi
# Ranges (CMake 3.19+).
if cmake --version | awk 'NR == 1 { split($3, v, "."); exit !(v[1] > 3 || (v[1] == 3 && v[2] >= 19)) }'; then
  want "$major.$minor...$((major + 1)).0" ok
  want "$major.$minor...<$major.$minor.0" no
fi

# Uninstall removes the package files.
make --no-print-directory -s uninstall DESTDIR="$tmp/stage" PREFIX=/opt/libyamux \
  >/dev/null 2>&1 || die "make uninstall failed"
[ ! -e "$tmp/stage/opt/libyamux/lib/cmake/libyamux" ] ||
  die "make uninstall left lib/cmake/libyamux"
echo "cmake test: ok"
