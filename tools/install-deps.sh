#!/usr/bin/env bash
# Installs what building and testing libyamux needs on a Debian/Ubuntu
# machine (`make deps` runs it; .ci/run too). Only this script installs
# anything: the build's own rules check and say what is missing.
#
#   tools/install-deps.sh                the library and `make test`
#   tools/install-deps.sh --check        print what is missing, install nothing
#   tools/install-deps.sh --best-effort  install if root (or passwordless
#                                        sudo); otherwise only say what is
#                                        missing and succeed (make test/demo)
#
# The Go, Rust and Node.js toolchains (interop, benchmarks, the TLS and
# fault tests' peers) are not Debian packages here: the script says if one
# is missing; their modules, crates and npm packages are fetched by the
# make targets that use them.
set -euo pipefail

check_only=0
best_effort=0
[ "${1:-}" = "--check" ] && check_only=1
[ "${1:-}" = "--best-effort" ] && best_effort=1

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd cc || need+=(build-essential)
have_cmd make || need+=(make)
have_cmd pkg-config || need+=(pkg-config)
if ! have_cmd pkg-config || ! pkg-config --atleast-version=1.44 libuv 2>/dev/null; then
  need+=(libuv1-dev)
fi
if ! have_cmd pkg-config || ! pkg-config --exists openssl 2>/dev/null; then
  need+=(libssl-dev) # libyamux-tls and its tests
fi
have_cmd clang-format-14 || need+=(clang-format-14) # make format-check
have_cmd clang-14 || need+=(clang-14)               # make fuzz-smoke
have_cmd python3 || need+=(python3)                 # bench, dissector check
have_cmd curl || need+=(curl)                       # the yamux-cli check
have_cmd tshark || need+=(tshark)                   # the dissector test
have_cmd tcpdump || need+=(tcpdump)                 # its live capture
have_cmd abidiff || need+=(abigail-tools)           # make abi-check
have_cmd cmake || need+=(cmake)                     # the CMake consumer test

for t in go cargo node npm; do
  if ! have_cmd "$t"; then
    for d in /usr/local/go/bin "$HOME/go/bin" "$HOME/.cargo/bin"; do
      [ -x "$d/$t" ] && continue 2
    done
    echo "install-deps: toolchain '$t' not found (needed by make interop," \
         "the TLS and fault tests and the benchmarks)" >&2
  fi
done

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "missing Debian packages: ${need[*]}"
  exit 1
fi
if ! have_cmd apt-get; then
  echo "install-deps: missing ${need[*]} and no apt-get to install them" >&2
  [ "$best_effort" = 1 ] && exit 0
  exit 1
fi
sudo=
if [ "$(id -u)" != 0 ]; then
  if [ "$best_effort" = 1 ] && ! sudo -n true 2>/dev/null; then
    echo "install-deps: missing ${need[*]} (run make deps as root to" \
         "install them; tests that need them are skipped)" >&2
    exit 0
  fi
  sudo=sudo
fi
echo "install-deps: installing ${need[*]}"
$sudo apt-get update
# tshark asks whether non-root users may capture: answer no, unattended.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
  $sudo debconf-set-selections 2>/dev/null || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
