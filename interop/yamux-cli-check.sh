#!/usr/bin/env bash
# The yamux-cli check of issue 7: libyamux's `yamux` against the Go
# yamux-cli (nwtgck/yamux-cli), each side in each role, over the pipeline
# from yamux-cli's README:
#
#   mkfifo p; cat p | yamux HOST PORT | yamux -l PORT2 > p
#
# with HTTP requests through it compared byte for byte with the same requests
# sent directly (TCP and -U), and datagrams echoed through it (-u).
#
#   interop/yamux-cli-check.sh [path/to/our/yamux]
#
# The Go side, in order of preference: $YAMUX_CLI_GO; interop/bin/yamux-cli
# (the real program: `GOBIN=$PWD/interop/bin go install
# github.com/nwtgck/yamux-cli@latest`, tried here when absent); else
# interop/bin/yamux-cli-go, a stand-in built from interop/yamux-cli-go that
# behaves as yamux-cli does (hashicorp/yamux, same roles, framing and flags),
# for machines where the module proxy is out of reach. The first line of the
# output says which one ran.
#
# Needs python3 and curl. Exit status 0 when every cell passed, 77 when a
# tool or the Go side is missing (the test suite reports a skip), else 1.
set -u
cd "$(dirname "$0")/.."
OURS=${1:-build/yamux}
OURS=$(cd "$(dirname "$OURS")" && pwd)/$(basename "$OURS")
GO=${GO:-go}

if [ -z "${YAMUX_CLI_GO:-}" ] && ! command -v "$GO" >/dev/null &&
   [ ! -x interop/bin/yamux-cli ]; then
  echo "yamux-cli-check: needs go (or YAMUX_CLI_GO=/path/to/yamux-cli)" >&2
  exit 77
fi
if [ -n "${YAMUX_CLI_GO:-}" ]; then
  THEIRS=$YAMUX_CLI_GO
  KIND="yamux-cli ($THEIRS)"
else
  if [ ! -x interop/bin/yamux-cli ] && command -v "$GO" >/dev/null; then
    GOBIN=$PWD/interop/bin GOTOOLCHAIN=local timeout 120 \
      "$GO" install github.com/nwtgck/yamux-cli@latest >/dev/null 2>&1
  fi
  if [ -x interop/bin/yamux-cli ]; then
    THEIRS=$PWD/interop/bin/yamux-cli
    KIND="yamux-cli $("$THEIRS" --version 2>/dev/null) (go install)"
  else
    # From the module cache alone (GOPROXY=off): the stand-in needs only
    # hashicorp/yamux of the repository's go.mod.
    GOTOOLCHAIN=local GOPROXY=${GOPROXY_STANDIN:-off} "$GO" build \
      -buildvcs=false -o interop/bin/yamux-cli-go ./interop/yamux-cli-go || {
      echo "yamux-cli-check: cannot build the Go side" >&2; exit 77; }
    THEIRS=$PWD/interop/bin/yamux-cli-go
    KIND="yamux-cli stand-in (interop/yamux-cli-go; the real module was not installable)"
  fi
fi
for tool in curl python3; do
  command -v $tool >/dev/null ||
    { echo "yamux-cli-check: needs $tool" >&2; exit 77; }
done
echo "# ours: $OURS ($("$OURS" --version))"
echo "# theirs: $KIND"

WORK=$(mktemp -d /tmp/yamux-cli-check.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

# Content: a small page and 3 MiB of random bytes.
mkdir -p "$WORK/www"
echo "hello through yamux" > "$WORK/www/index.html"
head -c 3145728 /dev/urandom > "$WORK/www/big.bin"

cat > "$WORK/servers.py" <<'PY'
import http.server, os, socket, socketserver, sys, threading
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    def address_string(self): return "local"
    def log_message(self, *a): pass
class T(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
class U(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
t = T(("127.0.0.1", int(sys.argv[2])), H)
u = U(sys.argv[3], H)
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.bind(("127.0.0.1", int(sys.argv[4])))
def echo():
    while True:
        b, a = d.recvfrom(65536)
        d.sendto(b, a)
for f in (t.serve_forever, u.serve_forever, echo):
    threading.Thread(target=f, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY

cat > "$WORK/udpclient.py" <<'PY'
# Two sources, 40 datagrams of varying size each, every echo checked.
import os, select, socket, sys, time
port = int(sys.argv[1])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
def roundtrip(s, msg):
    deadline = time.time() + 10
    while time.time() < deadline:
        s.sendto(msg, ("127.0.0.1", port))
        r, _, _ = select.select([s], [], [], 0.3)
        if r:
            got = s.recv(65536)
            if got == msg:
                return True
            print("mismatch: sent %d bytes, got %d" % (len(msg), len(got)))
            return False
    print("no echo for a %d-byte datagram" % len(msg))
    return False
ok = roundtrip(socks[0], b"first")
for i in range(80):
    if not ok:
        break
    n = [0, 1, 100, 1400, 8000, 60000][i % 6]
    ok = roundtrip(socks[i % 2], os.urandom(n))
sys.exit(0 if ok else 1)
PY

HTTP_PORT=$(free_port tcp)
UDP_PORT=$(free_port udp)
python3 "$WORK/servers.py" "$WORK/www" "$HTTP_PORT" "$WORK/http.sock" \
  "$UDP_PORT" > "$WORK/servers.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  grep -q ready "$WORK/servers.out" 2>/dev/null && break
  sleep 0.05
done

# Direct answers to compare with.
curl -sS "http://127.0.0.1:$HTTP_PORT/index.html" > "$WORK/direct.index"
curl -sS "http://127.0.0.1:$HTTP_PORT/big.bin" > "$WORK/direct.big"
curl -sS --unix-socket "$WORK/http.sock" "http://x/big.bin" > "$WORK/direct.ubig"
cmp -s "$WORK/direct.big" "$WORK/www/big.bin" || {
  echo "yamux-cli-check: the direct HTTP server is broken" >&2; exit 1; }

# start_pipeline DIAL_BIN LISTEN_BIN DIAL_ARGS LISTEN_ARGS: the README
# pipeline; sets PIPE_PID (the listening side, last in the pipeline).
start_pipeline() {
  local fifo="$WORK/p.$RANDOM"
  mkfifo "$fifo"
  # shellcheck disable=SC2086
  cat "$fifo" | "$1" $3 2>>"$WORK/dial.err" | "$2" $4 > "$fifo" \
    2>>"$WORK/listen.err" &
  PIPE_PID=$!
  PIDS+=($PIPE_PID)
}

stop_pipeline() {
  kill "$PIPE_PID" 2>/dev/null
  # The rest of the pipeline ends on EOF.
  for _ in $(seq 100); do
    kill -0 "$PIPE_PID" 2>/dev/null || break
    sleep 0.05
  done
}

wait_tcp() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

wait_unix() {
  for _ in $(seq 200); do
    [ -S "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

FAILS=0
result() { # cell ok detail
  if [ "$2" = 0 ]; then
    printf 'PASS  %s\n' "$1"
  else
    printf 'FAIL  %s  %s\n' "$1" "$3"
    FAILS=$((FAILS + 1))
    sed 's/^/      dial: /' "$WORK/dial.err" | tail -5
    sed 's/^/      listen: /' "$WORK/listen.err" | tail -5
  fi
  : > "$WORK/dial.err"
  : > "$WORK/listen.err"
}

name() { [ "$1" = "$OURS" ] && echo libyamux || echo yamux-cli; }

for DIAL in "$OURS" "$THEIRS"; do
  for LISTEN in "$OURS" "$THEIRS"; do
    cell="$(name "$DIAL") dial <-> $(name "$LISTEN") listen"

    # TCP + HTTP.
    LP=$(free_port tcp)
    start_pipeline "$DIAL" "$LISTEN" "127.0.0.1 $HTTP_PORT" "-l 127.0.0.1 $LP"
    detail=""
    if ! wait_tcp "$LP"; then
      detail="listener never came up"
    else
      curl -sS --max-time 30 "http://127.0.0.1:$LP/index.html" \
        > "$WORK/got.index" 2>>"$WORK/listen.err" || detail="curl index failed"
      cmp -s "$WORK/got.index" "$WORK/direct.index" || detail="${detail:-index differs}"
      # Six at once over the one session.
      curls=()
      for i in 1 2 3 4 5 6; do
        curl -sS --max-time 60 "http://127.0.0.1:$LP/big.bin" \
          > "$WORK/got.big.$i" 2>>"$WORK/listen.err" &
        curls+=($!)
      done
      for i in 1 2 3 4 5 6; do
        wait "${curls[$((i - 1))]}" || detail="${detail:-curl big.bin failed}"
        cmp -s "$WORK/got.big.$i" "$WORK/direct.big" ||
          detail="${detail:-big.bin differs}"
      done
    fi
    stop_pipeline
    result "tcp   $cell" "$([ -z "$detail" ]; echo $?)" "$detail"

    # Unix sockets + HTTP.
    S1="$WORK/l.$RANDOM.sock"
    start_pipeline "$DIAL" "$LISTEN" "-U $WORK/http.sock" "-U -l $S1"
    detail=""
    if ! wait_unix "$S1"; then
      detail="unix listener never came up"
    else
      curl -sS --max-time 60 --unix-socket "$S1" "http://x/big.bin" \
        > "$WORK/got.ubig" 2>>"$WORK/listen.err" || detail="curl failed"
      cmp -s "$WORK/got.ubig" "$WORK/direct.ubig" || detail="${detail:-big.bin differs}"
    fi
    stop_pipeline
    rm -f "$S1"
    result "unix  $cell" "$([ -z "$detail" ]; echo $?)" "$detail"

    # UDP echo.
    LU=$(free_port udp)
    start_pipeline "$DIAL" "$LISTEN" "-u 127.0.0.1 $UDP_PORT" "-u -l 127.0.0.1 $LU"
    detail=""
    python3 "$WORK/udpclient.py" "$LU" > "$WORK/udp.out" 2>&1 ||
      detail="$(tail -1 "$WORK/udp.out")"
    stop_pipeline
    result "udp   $cell" "$([ -z "$detail" ]; echo $?)" "$detail"
  done
done

echo "# $FAILS failed"
[ "$FAILS" = 0 ]
