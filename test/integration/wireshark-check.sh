#!/bin/sh
# The Wireshark dissector (tools/wireshark/yamux.lua) against real sessions
# between libyamux (build/examples/echo) and hashicorp/yamux
# (interop/bin/go-peer): test/integration/wireshark/check.py decodes the capture on its
# own and requires tshark to show the same frames, field for field.
#
#   test/integration/wireshark-check.sh file [PCAP]  the checked-in capture
#                                        (test/integration/wireshark/session.pcap.gz)
#   test/integration/wireshark-check.sh live         record one now with tcpdump on the
#                                        loopback (root), check it against
#                                        the capture and the Go peer's traces
#   test/integration/wireshark-check.sh record OUT   record a capture to OUT (.pcap.gz);
#                                        session.pcap.gz was made with
#                                        WIRESHARK_CHECK_PORT=7000 (the port
#                                        doc/wireshark.md uses)
#
# Run from the source tree with build/examples/echo built. Exit status 0 on
# success, 77 when a tool is missing (the suite reports a skip), else 1.
set -u
mode=${1:-file}
TSHARK=${TSHARK:-tshark}
GO=${GO:-go}

skip() { echo "wireshark-check: $*" >&2; exit 77; }
die() { echo "wireshark-check: $*" >&2; exit 1; }

command -v "$TSHARK" >/dev/null 2>&1 || skip "tshark is not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
"$TSHARK" -v 2>/dev/null | grep -q 'with Lua' ||
  skip "this tshark has no Lua support"

# The scenarios of a recording: a stream echoed, pings, 100 KiB half-closed
# first, a reset while the echo waits on the window (Window Updates both
# ways), 16 streams mid-transfer at close, and the violations the dissector
# must flag: bad version, unknown type, Data beyond the window (with SYN and
# later), a window pushed past 2^32-1. Each ends in a Go Away.
SCENARIOS_SERVER=open_echo,ping,halfclose_client_first,reset
SCENARIOS_SERVER=$SCENARIOS_SERVER,close_with_open_streams,malformed_version
SCENARIOS_SERVER=$SCENARIOS_SERVER,malformed_type,malformed_window_syn
SCENARIOS_SERVER=$SCENARIOS_SERVER,malformed_window,malformed_wu_overflow
# libyamux listening, hashicorp connecting.
SCENARIOS_CLIENT=open_echo,ping,halfclose_client_first
# Smaller for the checked-in file.
REC_SCENARIOS_SERVER=open_echo,ping,halfclose_client_first,malformed_version
REC_SCENARIOS_SERVER=$REC_SCENARIOS_SERVER,malformed_type,malformed_window
REC_SCENARIOS_SERVER=$REC_SCENARIOS_SERVER,malformed_wu_overflow
REC_SCENARIOS_CLIENT=open_echo,ping
REQUIRE=yamux.bad_version=1,yamux.bad_type=1,yamux.over_window=1
REQUIRE=$REQUIRE,yamux.window_overflow=1,yamux.goaway_error=4

if [ "$mode" = file ]; then
  pcap=${2:-test/integration/wireshark/session.pcap.gz}
  [ -f "$pcap" ] || die "$pcap is missing"
  python3 test/integration/wireshark/check.py --pcap "$pcap" --min-frames 100 \
    --require "$REQUIRE" || exit 1
  # The check must catch a broken dissector: each of these changes (window
  # accounting off by one byte, ACK and FIN masks swapped, the body handed
  # on one byte late, Go Away codes not flagged) must make it fail.
  work=$(mktemp -d "${TMPDIR:-/tmp}/yamux-wireshark.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  n=0
  for edit in 's/st.win\[from\] = w - len$/st.win[from] = w - len + 1/' \
              's/F_RST = 0x1, 0x2, 0x4,/F_RST = 0x1, 0x4, 0x2,/' \
              's/local body = tvb(HEADER_LEN, len)/local body = tvb(HEADER_LEN + 1, len - 1)/' \
              's/if len ~= 0 then$/if len > 1 then/'; do
    n=$((n + 1))
    sed "$edit" tools/wireshark/yamux.lua >"$work/mutant$n.lua"
    ! cmp -s tools/wireshark/yamux.lua "$work/mutant$n.lua" ||
      die "mutation $n no longer applies: $edit"
    if python3 test/integration/wireshark/check.py --pcap "$pcap" --min-frames 100 \
         --require "$REQUIRE" --lua "$work/mutant$n.lua" >/dev/null 2>&1; then
      die "the check passed a broken dissector ($edit)"
    fi
  done
  echo "wireshark-check: $n broken copies of the dissector all failed the check"
  exit 0
fi
[ "$mode" = live ] || [ "$mode" = record ] || die "usage: $0 file|live|record"

[ "$(id -u)" = 0 ] || skip "capturing on the loopback needs root"
command -v tcpdump >/dev/null 2>&1 || skip "tcpdump is not installed"
[ -x build/examples/echo ] || die "build/examples/echo is not built"
if [ ! -x interop/bin/go-peer ]; then
  command -v "$GO" >/dev/null 2>&1 || skip "no interop/bin/go-peer and no go"
  timeout 300 make --no-print-directory -s interop-go-peer >/dev/null 2>&1 ||
    skip "cannot build interop/bin/go-peer (Go modules out of reach?)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/yamux-wireshark.XXXXXX")
tdpid=
cleanup() {
  [ -n "$tdpid" ] && kill "$tdpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# One capture: tcpdump on lo filtered to the port, the Go peer as server
# (libyamux's echo connects), then as client (the echo listens on the same
# port). Returns non-zero if tcpdump lost packets.
capture() {
  srv=$1 cli=$2
  port=${WIRESHARK_CHECK_PORT:-$(free_port)}
  rm -f "$work"/cap.pcap "$work"/tr-*
  # A large buffer, packets handed over and written one by one: the bulk
  # scenarios come in bursts.
  tcpdump -i lo -s 0 -B 16384 --immediate-mode -U -n -w "$work/cap.pcap" \
    "tcp port $port" 2>"$work/tcpdump.log" &
  tdpid=$!
  i=0
  until grep -q 'listening on' "$work/tcpdump.log" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || die "tcpdump did not start: $(cat "$work/tcpdump.log")"
    sleep 0.1
  done
  interop/bin/go-peer --role server --transport tcp-listen \
    --addr "127.0.0.1:$port" --trace "$work/tr-server" \
    --cmd "build/examples/echo --client --connect {addr}" \
    --scenario "$srv" >"$work/peer.log" 2>&1 ||
    die "go-peer (server) failed: $(cat "$work/peer.log")"
  interop/bin/go-peer --role client --transport tcp-connect \
    --addr "127.0.0.1:$port" --trace "$work/tr-client" \
    --cmd "build/examples/echo --server --listen {addr}" \
    --scenario "$cli" >>"$work/peer.log" 2>&1 ||
    die "go-peer (client) failed: $(cat "$work/peer.log")"
  # Let tcpdump write out what it has before stopping it.
  last=-1
  while :; do
    sleep 0.3
    size=$(wc -c <"$work/cap.pcap")
    [ "$size" = "$last" ] && break
    last=$size
  done
  kill -INT "$tdpid"
  wait "$tdpid"
  tdpid=
  # (On lo the filter counts each packet twice, going out and coming in,
  # and libpcap keeps one: only the drop count tells a loss.)
  dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel$/\1/p' \
    "$work/tcpdump.log")
  [ "$dropped" = 0 ]
}

if [ "$mode" = record ]; then
  out=${2:?record needs an output file}
  capture "$REC_SCENARIOS_SERVER" "$REC_SCENARIOS_CLIENT" ||
    die "tcpdump lost packets: $(tail -3 "$work/tcpdump.log")"
  python3 test/integration/wireshark/check.py --pcap "$work/cap.pcap" \
    --trace "$work/tr-server:server" --trace "$work/tr-client:client" \
    --min-frames 100 --require "$REQUIRE" || exit 1
  gzip -9 -n -c "$work/cap.pcap" >"$out"
  echo "wireshark-check: wrote $out"
  exit 0
fi

# A loaded machine can make tcpdump drop packets: try the capture again
# rather than check an incomplete one.
tries=0
until capture "$SCENARIOS_SERVER" "$SCENARIOS_CLIENT"; do
  tries=$((tries + 1))
  [ $tries -lt 3 ] ||
    die "tcpdump lost packets in 3 captures: $(tail -3 "$work/tcpdump.log")"
done
python3 test/integration/wireshark/check.py --pcap "$work/cap.pcap" \
  --trace "$work/tr-server:server" --trace "$work/tr-client:client" \
  --min-frames 300 --require "$REQUIRE"
