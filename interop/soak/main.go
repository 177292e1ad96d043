// soak: a long randomized workload against libyamux's examples/echo, driven
// by the real hashicorp/yamux (v0.1.2), over stdio and TCP at the same time.
//
// Two transports run concurrently for SOAK_MINUTES (default 10):
//
//	stdio  spawns `echo --server --stdio --keepalive K`, yamux over its
//	       stdin/stdout; every session end is a new child.
//	tcp    spawns `echo --server --listen 127.0.0.1:0 --keepalive K` once,
//	       reads its "listening HOST:PORT" line and dials it; every session
//	       end is a new connection to the same, long-lived child (so its RSS
//	       shows memory kept across sessions).
//
// Each session opens streams in random bursts (up to a few hundred live),
// writes 1 B .. 4 MiB with random chunking, half-closes (hashicorp's
// Stream.Close) and reads the echo back, checking every byte, in order, and
// the EOF after it. Some streams read slowly; some are abandoned midway
// (part read, then Close without reading the rest: hashicorp sends a
// WU|RST when its StreamCloseTimeout fires, the only way v0.1.2 puts a RST
// on the wire); some send nothing but the FIN. A pinger pings at random
// intervals; both sides run keepalive on a short interval. After a random
// lifetime the session ends: drained then Go Away(0) and Close, Go Away(0)
// while streams still run then Close, or an abrupt transport close (TCP:
// sometimes with SO_LINGER 0, a RST). A frame tap counts every frame both
// ways.
//
// Every SOAK_SAMPLE seconds (default 10) one line: time, each child's VmRSS
// (and heap in use, with the shim below), streams done, bytes verified,
// errors. At every quiesced session end (all streams drained) the echo's
// memory: VmRSS, and with SOAK_HEAPSTAT (interop/bin/heapstat.so, built from
// heapstat/heapstat.c and preloaded into the echo; make soak sets it) the
// heap bytes in use (mallinfo2) and VmRSS after malloc_trim(0). glibc keeps
// freed heap pages resident after a load peak, so plain RSS says how high
// the load went, not what was kept. The summary compares the first quiesced
// sample after the warm-up (1 min, or a fifth of a shorter run) with the
// last: heap in use within start*1.1 + 1 MiB, trimmed RSS within
// start*1.1 + 2 MiB (plain RSS within start*1.1 + 2 MiB without the shim),
// judged for tcp, whose one echo serves every session.
//
// Exit status non-zero on any byte mismatch (at once), stream or session
// error, a child that exits non-zero after a normal end or dies by a signal,
// or memory growth across the TCP echo's sessions beyond those bounds.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

// ---- configuration ------------------------------------------------------

var (
	echoPath     = flag.String("echo", envStr("SOAK_ECHO", "build/examples/echo"), "libyamux echo binary")
	minutes      = flag.Float64("minutes", envFloat("SOAK_MINUTES", 10), "run time in minutes")
	seedFlag     = flag.Uint64("seed", envUint("SOAK_SEED", 0), "PRNG seed (0: from the clock)")
	sampleSec    = flag.Float64("sample", envFloat("SOAK_SAMPLE", 10), "seconds between samples")
	maxLive      = flag.Int("max-live", int(envUint("SOAK_MAX_LIVE", 300)), "live streams per session at most")
	keepaliveMS  = flag.Int("keepalive", int(envUint("SOAK_KEEPALIVE_MS", 250)), "echo's keepalive interval (ms)")
	transports   = flag.String("transports", envStr("SOAK_TRANSPORTS", "stdio,tcp"), "stdio,tcp")
	streamLimit  = flag.Duration("stream-timeout", 120*time.Second, "a stream taking longer is an error")
	closeTimeout = flag.Duration("close-timeout", 10*time.Second, "hashicorp StreamCloseTimeout (RST for abandoned streams)")
	endsFlag     = flag.String("ends", envStr("SOAK_ENDS", ""), "session ends allowed: graceful,goaway-live,abrupt,abrupt-rst (default all)")
	verbose      = flag.Bool("v", false, "hashicorp's log and per-session lines")
	heapstatSO   = flag.String("heapstat", envStr("SOAK_HEAPSTAT", ""), "heapstat.so to preload into the echo (heap in-use; empty: RSS only)")
)

func envStr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func envFloat(k string, d float64) float64 {
	if v := os.Getenv(k); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return d
}

func envUint(k string, d uint64) uint64 {
	if v := os.Getenv(k); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n
		}
	}
	return d
}

// ---- counters -----------------------------------------------------------

type stats struct {
	opened, done, abandoned, empty, aborted atomic.Int64
	bytesOut, bytesVerified                 atomic.Int64
	pings, pingFail                         atomic.Int64
	sessions, graceful, goawayLive, abrupt  atomic.Int64
	children, childExit0, childExit1        atomic.Int64
	errors                                  atomic.Int64
	maxLive, live                           atomic.Int64
	pingMaxNS                               atomic.Int64
}

type frameStats struct {
	mu                 sync.Mutex
	frames             [4]int64 // by type
	syn, ack, fin, rst int64
	goaway             map[uint32]int64
	bad                int64
}

func (f *frameStats) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ga := []string{}
	for c, n := range f.goaway {
		ga = append(ga, fmt.Sprintf("%d×%d", n, c))
	}
	return fmt.Sprintf("data=%d wu=%d ping=%d goaway=%d [%s] SYN=%d ACK=%d FIN=%d RST=%d",
		f.frames[0], f.frames[1], f.frames[2], f.frames[3], strings.Join(ga, " "),
		f.syn, f.ack, f.fin, f.rst)
}

// pingClock times pings on the wire: from the Ping|SYN leaving (or arriving)
// to the Ping|ACK with its value coming back (or leaving). The far side's
// reply latency, the kernel buffers and the pipe to hashicorp included, but
// not hashicorp's own send queue.
type pingClock struct {
	mu     sync.Mutex
	sent   map[uint32]time.Time // hashicorp's pings, as written
	recvd  map[uint32]time.Time // libyamux's pings, as read
	theirs *pingStat            // libyamux answering hashicorp
	ours   *pingStat            // hashicorp answering libyamux
}

type pingStat struct {
	mu       sync.Mutex
	n, over1 int64
	max      time.Duration
}

func (p *pingStat) add(d time.Duration) {
	p.mu.Lock()
	p.n++
	if d > time.Second {
		p.over1++
	}
	if d > p.max {
		p.max = d
	}
	p.mu.Unlock()
}

func (p *pingStat) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%d answered, max %v, %d over 1 s", p.n,
		p.max.Round(time.Microsecond), p.over1)
}

// tap parses the frame headers of one direction of a transport.
type tap struct {
	fs   *frameStats
	pc   *pingClock
	tx   bool // hashicorp -> libyamux
	hdr  [12]byte
	have int
	skip uint32
}

func (t *tap) feed(b []byte) {
	for len(b) > 0 {
		if t.skip > 0 {
			n := uint32(len(b))
			if n > t.skip {
				n = t.skip
			}
			t.skip -= n
			b = b[n:]
			continue
		}
		n := copy(t.hdr[t.have:], b)
		t.have += n
		b = b[n:]
		if t.have < 12 {
			return
		}
		t.have = 0
		typ := t.hdr[1]
		flags := uint16(t.hdr[2])<<8 | uint16(t.hdr[3])
		length := uint32(t.hdr[8])<<24 | uint32(t.hdr[9])<<16 |
			uint32(t.hdr[10])<<8 | uint32(t.hdr[11])
		t.fs.mu.Lock()
		if t.hdr[0] != 0 || typ > 3 {
			t.fs.bad++
			t.fs.mu.Unlock()
			t.skip = math.MaxUint32 // lost sync: stop parsing
			continue
		}
		t.fs.frames[typ]++
		if typ == 0 || typ == 1 {
			if flags&1 != 0 {
				t.fs.syn++
			}
			if flags&2 != 0 {
				t.fs.ack++
			}
			if flags&4 != 0 {
				t.fs.fin++
			}
			if flags&8 != 0 {
				t.fs.rst++
			}
		}
		if typ == 3 {
			t.fs.goaway[length]++
		}
		t.fs.mu.Unlock()
		if typ == 2 && t.pc != nil {
			t.ping(flags, length)
		}
		if typ == 0 {
			t.skip = length
		}
	}
}

func (t *tap) ping(flags uint16, v uint32) {
	pc := t.pc
	now := time.Now()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	switch {
	case flags&1 != 0 && t.tx:
		pc.sent[v] = now
	case flags&1 != 0:
		pc.recvd[v] = now
	case flags&2 != 0 && !t.tx:
		if at, ok := pc.sent[v]; ok {
			delete(pc.sent, v)
			pc.theirs.add(now.Sub(at))
		}
	case flags&2 != 0:
		if at, ok := pc.recvd[v]; ok {
			delete(pc.recvd, v)
			pc.ours.add(now.Sub(at))
		}
	}
}

// ---- globals ------------------------------------------------------------

var (
	pattern  []byte // random bytes; a stream sends pattern[off : off+size]
	patSpan  = 8 << 20
	maxSize  = 4 << 20
	seed     uint64
	start    time.Time
	failOnce sync.Once
	errMu    sync.Mutex
	errShown int
)

func elapsed() float64 { return time.Since(start).Seconds() }

func logf(format string, a ...any) {
	fmt.Printf("[%7.1fs] "+format+"\n", append([]any{elapsed()}, a...)...)
}

// reportErr counts an error and prints the first 50.
func (t *transport) reportErr(format string, a ...any) {
	t.st.errors.Add(1)
	errMu.Lock()
	defer errMu.Unlock()
	errShown++
	if errShown <= 50 {
		logf("ERROR %s: "+format, append([]any{t.name}, a...)...)
	}
}

// fatal stops everything at once (a byte mismatch, a crashed child).
func fatal(format string, a ...any) {
	failOnce.Do(func() {
		logf("FATAL: "+format, a...)
		logf("seed was %d", seed)
		for _, t := range allTransports {
			t.killChildren()
		}
		os.Exit(1)
	})
	select {}
}

// ---- child processes ----------------------------------------------------

type child struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  bytes.Buffer
	done    chan struct{}
	state   *os.ProcessState
	killing atomic.Bool
	hs      *heapstat // nil without SOAK_HEAPSTAT
}

// heapstat talks to interop/soak/heapstat/heapstat.c, preloaded into the
// echo: one request byte, one line back (see there).
type heapstat struct {
	mu    sync.Mutex
	req   *os.File
	respF *os.File
	resp  *bufio.Reader
	child [2]*os.File // the child's ends, closed after Start
	dead  bool        // no answer once: a late line would answer the next
}

type heapSample struct {
	inuse, heap, free, mmap, rss, rssTrimmed int64 // KiB
}

// newChild makes the exec.Cmd for an echo, with the heapstat shim preloaded
// and its two pipes as fd 3 and 4 when SOAK_HEAPSTAT names it.
func newChild(args ...string) (*child, error) {
	c := &child{done: make(chan struct{})}
	c.cmd = exec.Command(*echoPath, args...)
	c.cmd.Stderr = stderrSink{c}
	if *heapstatSO == "" {
		return c, nil
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.cmd.ExtraFiles = []*os.File{reqR, respW}
	c.cmd.Env = append(os.Environ(), "LD_PRELOAD="+*heapstatSO, "SOAK_HEAPSTAT_FDS=3,4")
	c.hs = &heapstat{req: reqW, respF: respR, resp: bufio.NewReader(respR), child: [2]*os.File{reqR, respW}}
	return c, nil
}

// started closes the child's ends of the heapstat pipes in this process.
func (c *child) started() {
	if c.hs != nil {
		c.hs.child[0].Close()
		c.hs.child[1].Close()
	}
}

// heap asks the shim for the echo's heap numbers; trim: malloc_trim(0)
// after reading them (rssTrimmed is VmRSS after it). ok false without the
// shim or when it does not answer within 5 s.
func (c *child) heap(trim bool) (h heapSample, ok bool) {
	if c == nil || c.hs == nil {
		return h, false
	}
	hs := c.hs
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.dead {
		return h, false
	}
	hs.dead = true // until the answer is in
	req := []byte{'s'}
	if trim {
		req[0] = 't'
	}
	hs.req.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := hs.req.Write(req); err != nil {
		return h, false
	}
	hs.respF.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := hs.resp.ReadString('\n')
	if err != nil {
		return h, false
	}
	hs.dead = false
	n, err := fmt.Sscanf(line, "inuse_kib=%d heap_kib=%d free_kib=%d mmap_kib=%d rss_kib=%d rss_trimmed_kib=%d",
		&h.inuse, &h.heap, &h.free, &h.mmap, &h.rss, &h.rssTrimmed)
	return h, err == nil && n == 6
}

type stderrSink struct{ c *child }

func (s stderrSink) Write(b []byte) (int, error) {
	s.c.mu.Lock()
	s.c.stderr.Write(b)
	s.c.mu.Unlock()
	if *verbose {
		os.Stderr.Write(b)
	}
	return len(b), nil
}

func (c *child) stderrLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, l := range strings.Split(c.stderr.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

func (c *child) wait() {
	c.cmd.Wait()
	if c.hs != nil {
		c.hs.mu.Lock()
		c.hs.req.Close()
		c.hs.respF.Close()
		c.hs.mu.Unlock()
	}
	c.mu.Lock()
	c.state = c.cmd.ProcessState
	c.mu.Unlock()
	close(c.done)
}

// exitDesc: "exit=N" or "signal=NAME".
func (c *child) exitDesc() (code int, sig bool, desc string) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == nil {
		return -1, false, "running"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, true, "signal=" + ws.Signal().String()
	}
	return st.ExitCode(), false, fmt.Sprintf("exit=%d", st.ExitCode())
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return -1
}

// ---- the transport wrapper ---------------------------------------------

// conn is what hashicorp's session runs on. Reads come through a pipe fed by
// a copier, so that Close unblocks hashicorp's reader at once while, on a
// graceful close, the real transport is drained to EOF in the background:
// the echo then sees our EOF, finishes and exits (stdio) or closes the
// connection (TCP) without writing into a closed pipe.
type conn struct {
	pr       *io.PipeReader
	w        io.Writer
	txTap    tap
	txMu     sync.Mutex
	abrupt   atomic.Bool
	rst      atomic.Bool // TCP: SO_LINGER 0 on an abrupt close
	closeW   func()      // graceful: half-close our sending side
	closeAll func()      // abrupt: close both directions now
	finish   func()      // after the drain reached EOF (graceful)
	drained  chan struct{}
	once     sync.Once
}

func newConn(r io.Reader, w io.Writer, t *transport) *conn {
	pr, pw := io.Pipe()
	c := &conn{pr: pr, w: w, drained: make(chan struct{})}
	pc := &pingClock{sent: map[uint32]time.Time{}, recvd: map[uint32]time.Time{},
		theirs: &t.pongC, ours: &t.pongGo}
	c.txTap = tap{fs: &t.tx, pc: pc, tx: true}
	rxTap := &tap{fs: &t.rx, pc: pc}
	go func() {
		defer close(c.drained)
		buf := make([]byte, 256<<10)
		piping := true
		for {
			n, err := r.Read(buf)
			if n > 0 {
				rxTap.feed(buf[:n])
				if piping {
					if _, werr := pw.Write(buf[:n]); werr != nil {
						piping = false // closed by us: keep draining
					}
				}
			}
			if err != nil {
				if errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
					err = io.EOF
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return c
}

func (c *conn) Read(b []byte) (int, error) { return c.pr.Read(b) }

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.txMu.Lock()
	c.txTap.feed(b[:n])
	c.txMu.Unlock()
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.pr.Close()
		if c.abrupt.Load() {
			c.closeAll()
			return
		}
		c.closeW()
		go func() {
			select {
			case <-c.drained:
			case <-time.After(30 * time.Second):
				c.closeAll() // the echo never ended: the caller reports it
			}
			c.finish()
		}()
	})
	return nil
}

// ---- a transport: its sessions, its child(ren), its counters ------------

type transport struct {
	name    string
	idx     uint64
	st      stats
	rx, tx  frameStats
	pongC   pingStat     // libyamux's pongs to hashicorp's pings, on the wire
	pongGo  pingStat     // hashicorp's pongs to libyamux's keepalive pings
	curPID  atomic.Int64 // the child whose RSS is sampled
	listen  *child       // tcp: the long-lived echo
	addr    string
	stdioMu sync.Mutex
	stdio   *child // stdio: the current child
	idleMu  sync.Mutex
	idle    []idleSample // RSS at each quiesced session end
}

var allTransports []*transport

var endKinds = map[string]bool{}

func newTransport(name string, idx uint64) *transport {
	t := &transport{name: name, idx: idx}
	t.rx.goaway = map[uint32]int64{}
	t.tx.goaway = map[uint32]int64{}
	return t
}

// cur is the child whose memory is sampled.
func (t *transport) cur() *child {
	if t.listen != nil {
		return t.listen
	}
	t.stdioMu.Lock()
	defer t.stdioMu.Unlock()
	return t.stdio
}

func (t *transport) echoArgs(mode ...string) []string {
	a := []string{"--server"}
	a = append(a, mode...)
	if *keepaliveMS > 0 {
		a = append(a, "--keepalive", strconv.Itoa(*keepaliveMS))
	}
	return a
}

func (t *transport) killChildren() {
	for _, c := range []*child{t.listen, t.stdio} {
		if c != nil && c.cmd.Process != nil {
			c.killing.Store(true)
			c.cmd.Process.Kill()
		}
	}
}

// startListener spawns the TCP echo once and reads its address.
func (t *transport) startListener() error {
	c, err := newChild(t.echoArgs("--listen", "127.0.0.1:0")...)
	if err != nil {
		return err
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := c.cmd.Start(); err != nil {
		return err
	}
	c.started()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		c.cmd.Process.Kill()
		return fmt.Errorf("echo --listen printed %q (%v)", line, err)
	}
	t.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	t.listen = c
	t.st.children.Add(1)
	t.curPID.Store(int64(c.cmd.Process.Pid))
	go func() {
		io.Copy(io.Discard, out)
		c.wait()
		if !c.killing.Load() {
			_, _, d := c.exitDesc()
			fatal("tcp echo (pid %d) died during the run: %s; stderr: %q", c.cmd.Process.Pid, d, c.stderrLines())
		}
	}()
	return nil
}

// session is one hashicorp session over one transport.
type session struct {
	t        *transport
	n        uint64
	s        *yamux.Session
	c        *conn
	child    *child // stdio
	tcp      *net.TCPConn
	aborting atomic.Bool
	closing  atomic.Bool
	wg       sync.WaitGroup
	live     atomic.Int64
	stderrN  int // tcp: the listener's stderr lines before this session
	ended    chan struct{}
	streamN  atomic.Uint64
}

func (t *transport) dial(n uint64) (*session, error) {
	ss := &session{t: t, n: n, ended: make(chan struct{})}
	if t.name == "stdio" {
		c, err := newChild(t.echoArgs("--stdio")...)
		if err != nil {
			return nil, err
		}
		in, err := c.cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := c.cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := c.cmd.Start(); err != nil {
			return nil, err
		}
		c.started()
		t.st.children.Add(1)
		t.stdioMu.Lock()
		t.stdio = c
		t.stdioMu.Unlock()
		t.curPID.Store(int64(c.cmd.Process.Pid))
		ss.child = c
		ss.c = newConn(out, in, t)
		ss.c.closeW = func() { in.Close() }
		ss.c.closeAll = func() { in.Close(); out.Close() }
		ss.c.finish = func() {}
		go func() {
			<-ss.c.drained // exec: Wait only after the reads are done
			c.wait()
		}()
	} else {
		nc, err := net.Dial("tcp", t.addr)
		if err != nil {
			return nil, err
		}
		tc := nc.(*net.TCPConn)
		tc.SetNoDelay(true)
		ss.tcp = tc
		ss.stderrN = len(t.listen.stderrLines())
		ss.c = newConn(tc, tc, t)
		ss.c.closeW = func() { tc.CloseWrite() }
		ss.c.closeAll = func() {
			if ss.c.rst.Load() {
				tc.SetLinger(0)
			}
			tc.Close()
		}
		ss.c.finish = func() { tc.Close() }
	}
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	if *verbose {
		cfg.LogOutput = os.Stderr
	}
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = 500 * time.Millisecond
	cfg.StreamCloseTimeout = *closeTimeout
	s, err := yamux.Client(ss.c, cfg)
	if err != nil {
		return nil, err
	}
	ss.s = s
	t.st.sessions.Add(1)
	return ss, nil
}

// ---- streams ------------------------------------------------------------

type streamKind int

const (
	kindEcho    streamKind = iota // write all, half-close, verify all + EOF
	kindSlow                      // the same with a slow reader
	kindAbandon                   // read part, then Close without reading on
	kindEmpty                     // FIN only: EOF back, no data
)

// logUniform picks from [lo, hi] with a uniform logarithm.
func logUniform(r *rand.Rand, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi+1))-math.Log(float64(lo))))
	n := int(v)
	if n < lo {
		n = lo
	}
	if n > hi {
		n = hi
	}
	return n
}

func (ss *session) runStream(idx uint64) {
	t := ss.t
	defer ss.wg.Done()
	defer func() {
		ss.live.Add(-1)
		t.st.live.Add(-1)
	}()
	r := rand.New(rand.NewPCG(seed, t.idx<<56|ss.n<<32|idx))
	kind := kindEcho
	switch p := r.IntN(100); {
	case p < 4:
		kind = kindAbandon
	case p < 7:
		kind = kindEmpty
	case p < 17:
		kind = kindSlow
	}
	size := logUniform(r, 1, maxSize)
	if kind == kindEmpty {
		size = 0
	}
	off := r.IntN(patSpan)
	chunkMax := logUniform(r, 1, max(size, 1))
	chunkMax = max(chunkMax, size/4096, 1)
	readMax := max(logUniform(r, 1, 64<<10), size/8192, 1)
	abandonAt := 0
	if kind == kindAbandon {
		abandonAt = r.IntN(size + 1)
	}
	want := pattern[off : off+size]

	st, err := ss.s.OpenStream()
	if err != nil {
		if !ss.aborting.Load() {
			t.reportErr("session %d: open: %v", ss.n, err)
		} else {
			t.st.aborted.Add(1)
		}
		return
	}
	t.st.opened.Add(1)
	id := st.StreamID()
	st.SetDeadline(time.Now().Add(*streamLimit))

	var written atomic.Int64
	var stopW atomic.Bool
	var finAt atomic.Int64
	opened := time.Now()
	lastByte := opened
	wdone := make(chan error, 1)
	go func() {
		wr := rand.New(rand.NewPCG(seed^0x5eed, t.idx<<56|ss.n<<32|idx))
		pos := 0
		for pos < size && !stopW.Load() {
			n := min(1+wr.IntN(chunkMax), size-pos)
			m, err := st.Write(want[pos : pos+n])
			pos += m
			written.Add(int64(m))
			t.st.bytesOut.Add(int64(m))
			if err != nil {
				wdone <- err
				return
			}
		}
		if kind == kindAbandon {
			wdone <- nil
			return
		}
		finAt.Store(time.Now().UnixNano())
		wdone <- st.Close() // half-close: FIN
	}()

	buf := make([]byte, readMax)
	got := 0
	var slept time.Duration
	var rerr error
	for {
		if kind == kindAbandon && got >= abandonAt {
			break
		}
		n := len(buf)
		if kind == kindAbandon {
			n = min(n, abandonAt-got)
		}
		m, err := st.Read(buf[:n])
		if m > 0 {
			if got+m > size {
				fatal("%s session %d stream %d: %d bytes echoed, %d sent",
					t.name, ss.n, id, got+m, size)
			}
			if !bytes.Equal(buf[:m], want[got:got+m]) {
				i := 0
				for buf[i] == want[got+i] {
					i++
				}
				fatal("%s session %d stream %d (size %d, seed %d): byte %d is %#02x, sent %#02x",
					t.name, ss.n, id, size, seed, got+i, buf[i], want[got+i])
			}
			got += m
			lastByte = time.Now()
			t.st.bytesVerified.Add(int64(m))
		}
		if err != nil {
			rerr = err
			break
		}
		if kind == kindSlow && slept < 2*time.Second && r.IntN(4) == 0 {
			d := time.Duration(r.IntN(5000)) * time.Microsecond
			time.Sleep(d)
			slept += d
		}
	}

	if kind == kindAbandon {
		// Close without reading the rest: a FIN now; the echo keeps
		// sending until our window is used up, and nobody reads it, so
		// the stream only ends when hashicorp's StreamCloseTimeout sends
		// WU|RST (or the session ends). The writer stops first: hashicorp's
		// Close does not take the send lock, so a Write racing it can put
		// Data after the FIN on the wire (a hashicorp bug, not ours to test).
		stopW.Store(true)
		st.SetWriteDeadline(time.Now().Add(-time.Second))
		<-wdone
		st.Close()
		if rerr != nil && !ss.aborting.Load() {
			t.reportErr("session %d stream %d (abandon at %d of %d): read: %v",
				ss.n, id, abandonAt, size, rerr)
			return
		}
		t.st.abandoned.Add(1)
		return
	}
	werr := <-wdone
	if ss.aborting.Load() {
		if rerr == io.EOF && werr == nil && got == size {
			t.st.done.Add(1)
		} else {
			t.st.aborted.Add(1)
		}
		return
	}
	switch {
	case werr != nil:
		t.reportErr("session %d stream %d: write after %d of %d: %v",
			ss.n, id, written.Load(), size, werr)
	case rerr != io.EOF || got != size:
		now := time.Now()
		fin := "never"
		if f := finAt.Load(); f != 0 {
			fin = now.Sub(time.Unix(0, f)).Round(time.Millisecond).String() + " ago"
		}
		what := "EOF"
		if rerr != io.EOF {
			what = rerr.Error()
		}
		t.reportErr("session %d stream %d: %s after %d of %d bytes (kind %d, read size %d, chunk %d); opened %v ago, our FIN %s, last byte %v ago",
			ss.n, id, what, got, size, kind, readMax, chunkMax,
			now.Sub(opened).Round(time.Millisecond), fin,
			now.Sub(lastByte).Round(time.Millisecond))
	default:
		t.st.done.Add(1)
		if kind == kindEmpty {
			t.st.empty.Add(1)
		}
	}
}

// ---- a session's life ---------------------------------------------------

func (ss *session) pinger(stop <-chan struct{}, r *rand.Rand) {
	t := ss.t
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(50+r.IntN(450)) * time.Millisecond):
		}
		rtt, err := ss.s.Ping()
		if err != nil {
			if !ss.aborting.Load() && !ss.closing.Load() {
				t.st.pingFail.Add(1)
				t.reportErr("session %d: ping: %v", ss.n, err)
			}
			return
		}
		t.st.pings.Add(1)
		for {
			old := t.st.pingMaxNS.Load()
			if int64(rtt) <= old || t.st.pingMaxNS.CompareAndSwap(old, int64(rtt)) {
				break
			}
		}
	}
}

func (ss *session) open(burst int) {
	for i := 0; i < burst; i++ {
		ss.wg.Add(1)
		l := ss.live.Add(1)
		tl := ss.t.st.live.Add(1)
		for {
			old := ss.t.st.maxLive.Load()
			if tl <= old || ss.t.st.maxLive.CompareAndSwap(old, tl) {
				break
			}
		}
		_ = l
		go ss.runStream(ss.streamN.Add(1))
	}
}

// run drives one session for its lifetime, then ends it the way r picks
// (final: always gracefully).
func (ss *session) run(r *rand.Rand, life time.Duration, final bool) {
	t := ss.t
	stop := make(chan struct{})
	go func() {
		<-ss.s.CloseChan()
		close(ss.ended)
	}()
	go ss.pinger(stop, rand.New(rand.NewPCG(seed^0x9196, t.idx<<56|ss.n<<32)))
	endAt := time.Now().Add(life)
	for time.Now().Before(endAt) {
		select {
		case <-ss.ended:
			t.reportErr("session %d ended by itself", ss.n)
			ss.aborting.Store(true)
			ss.closing.Store(true)
			close(stop)
			ss.s.Close()
			ss.wg.Wait()
			ss.finish("died", true)
			return
		default:
		}
		room := int64(*maxLive) - ss.live.Load()
		if room > 0 {
			burst := logUniform(r, 1, 200)
			ss.open(int(min(int64(burst), room)))
		}
		time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
	}

	how := "graceful"
	if !final {
		switch p := r.IntN(100); {
		case p < 25:
			how = "goaway-live"
		case p < 60:
			how = "abrupt"
			if t.name == "tcp" && r.IntN(2) == 0 {
				how = "abrupt-rst"
			}
		}
		if len(endKinds) > 0 && !endKinds[how] {
			// Restricted by --ends: take an allowed kind in a fixed order.
			for _, k := range []string{"abrupt-rst", "abrupt", "goaway-live", "graceful"} {
				if endKinds[k] && (k != "abrupt-rst" || t.name == "tcp") {
					how = k
					break
				}
			}
		}
	}
	switch how {
	case "graceful":
		ss.drain()
		ss.closing.Store(true)
		ss.s.GoAway()
		t.st.graceful.Add(1)
	case "goaway-live":
		// Go Away(0) while streams run; hashicorp may still open, and a
		// few more streams go out after it.
		ss.s.GoAway()
		ss.open(1 + r.IntN(8))
		ss.drain()
		ss.closing.Store(true)
		t.st.goawayLive.Add(1)
	default:
		ss.aborting.Store(true)
		ss.closing.Store(true)
		ss.c.abrupt.Store(true)
		ss.c.rst.Store(how == "abrupt-rst")
		t.st.abrupt.Add(1)
	}
	close(stop)
	ss.closing.Store(true)
	ss.s.Close()
	ss.wg.Wait()
	ss.finish(how, how == "abrupt" || how == "abrupt-rst")
}

func (ss *session) drain() {
	done := make(chan struct{})
	go func() { ss.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(*streamLimit + 30*time.Second):
		ss.t.reportErr("session %d: %d streams still live after %v",
			ss.n, ss.live.Load(), *streamLimit+30*time.Second)
		return
	}
	// Quiesced: every stream verified, the abandoned ones reset by
	// hashicorp's close timer (so the echo freed them too). The echo's RSS
	// now holds no data in flight: comparable from session to session.
	limit := time.Now().Add(*closeTimeout + 5*time.Second)
	for ss.s.NumStreams() > 0 && time.Now().Before(limit) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	left := ss.s.NumStreams()
	rss := rssKiB(int(ss.t.curPID.Load()))
	is := idleSample{t: elapsed(), rss: rss, inuse: -1, rssTrimmed: -1}
	heap := ""
	if h, ok := ss.t.cur().heap(true); ok {
		is.inuse, is.rssTrimmed = h.inuse, h.rssTrimmed
		heap = fmt.Sprintf(" heap: inuse_kib=%d free_kib=%d mmap_kib=%d; after malloc_trim rss_kib=%d",
			h.inuse, h.free, h.mmap, h.rssTrimmed)
	}
	ss.t.idleMu.Lock()
	ss.t.idle = append(ss.t.idle, is)
	ss.t.idleMu.Unlock()
	fmt.Printf("idle   t=%6.1fs %s session %d: all streams done (%d left in hashicorp), echo pid %d rss_kib=%d%s\n",
		elapsed(), ss.t.name, ss.n, left, ss.t.curPID.Load(), rss, heap)
}

// idleSample: the echo at a quiesced session end. inuse and rssTrimmed are
// -1 without the heapstat shim.
type idleSample struct {
	t          float64
	rss        int64 // VmRSS as it is (glibc keeps freed heap resident)
	inuse      int64 // heap bytes allocated (mallinfo2), KiB
	rssTrimmed int64 // VmRSS after malloc_trim(0)
}

// finish checks how the C side took the end of the session.
func (ss *session) finish(how string, abrupt bool) {
	t := ss.t
	if ss.child != nil {
		c := ss.child
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			t.reportErr("session %d (%s): echo (pid %d) still running 30 s after the close",
				ss.n, how, c.cmd.Process.Pid)
			c.killing.Store(true)
			c.cmd.Process.Kill()
			<-c.done
		}
		code, sig, desc := c.exitDesc()
		lines := c.stderrLines()
		if code == 0 {
			t.st.childExit0.Add(1)
		} else if code == 1 {
			t.st.childExit1.Add(1)
		}
		switch {
		case sig && !c.killing.Load():
			fatal("%s session %d (%s): echo (pid %d) died: %s; stderr %q",
				t.name, ss.n, how, c.cmd.Process.Pid, desc, lines)
		case !abrupt && (code != 0 || len(lines) != 0):
			t.reportErr("session %d (%s): echo %s after a normal end; stderr %q",
				ss.n, how, desc, lines)
		case abrupt && (code != 0 && code != 1 || len(lines) > 1):
			t.reportErr("session %d (%s): echo %s; stderr %q", ss.n, how, desc, lines)
		}
		if *verbose || code != 0 {
			logf("%s session %d ended (%s): echo %s %q", t.name, ss.n, how, desc, lines)
		}
		return
	}
	// TCP: wait for the echo to close its side, then look at its stderr.
	select {
	case <-ss.c.drained:
	case <-time.After(35 * time.Second):
		t.reportErr("session %d (%s): the echo never closed the connection", ss.n, how)
	}
	time.Sleep(50 * time.Millisecond)
	lines := t.listen.stderrLines()[ss.stderrN:]
	switch {
	case !abrupt && len(lines) != 0:
		t.reportErr("session %d (%s): echo stderr after a normal end: %q", ss.n, how, lines)
	case abrupt && len(lines) > 1:
		t.reportErr("session %d (%s): echo stderr: %q", ss.n, how, lines)
	}
	if *verbose || len(lines) != 0 {
		logf("tcp session %d ended (%s): echo stderr %q", ss.n, how, lines)
	}
}

// loop runs sessions back to back until the deadline.
func (t *transport) loop(deadline time.Time, total time.Duration, wg *sync.WaitGroup) {
	defer wg.Done()
	r := rand.New(rand.NewPCG(seed, t.idx<<56|0xffffffff))
	maxLife := min(60*time.Second, total/3)
	for n := uint64(1); time.Now().Before(deadline); n++ {
		life := time.Duration((0.33 + 0.67*r.Float64()) * float64(maxLife))
		final := false
		if time.Until(deadline) <= life+time.Second {
			life = max(time.Until(deadline), 0)
			final = true
		}
		ss, err := t.dial(n)
		if err != nil {
			t.reportErr("session %d: start: %v", n, err)
			time.Sleep(time.Second)
			continue
		}
		ss.run(r, life, final)
	}
}

// ---- main ---------------------------------------------------------------

type sample struct {
	t   float64
	rss map[string]int64
}

func main() {
	flag.Parse()
	seed = *seedFlag
	for _, k := range strings.Split(*endsFlag, ",") {
		if k = strings.TrimSpace(k); k != "" {
			endKinds[k] = true
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	total := time.Duration(*minutes * float64(time.Minute))
	warm := min(time.Minute, total/5)
	if _, err := os.Stat(*echoPath); err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v (run make first)\n", err)
		os.Exit(2)
	}
	if *heapstatSO != "" {
		abs, err := filepath.Abs(*heapstatSO)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: heapstat: %v\n", err)
			os.Exit(2)
		}
		*heapstatSO = abs
	}
	pr := rand.New(rand.NewPCG(seed, 0))
	pattern = make([]byte, patSpan+maxSize)
	for i := 0; i+8 <= len(pattern); i += 8 {
		v := pr.Uint64()
		for j := 0; j < 8; j++ {
			pattern[i+j] = byte(v >> (8 * j))
		}
	}
	start = time.Now()
	deadline := start.Add(total)
	fmt.Printf("soak: seed %d, %.1f min, echo %s, keepalive %d ms (echo) / 500 ms (hashicorp), "+
		"stream close timeout %v, max %d live streams per session, transports %s, hashicorp/yamux v0.1.2, %s\n",
		seed, *minutes, *echoPath, *keepaliveMS, *closeTimeout, *maxLive, *transports, runtime.Version())

	for i, name := range strings.Split(*transports, ",") {
		t := newTransport(strings.TrimSpace(name), uint64(i+1))
		if t.name != "stdio" && t.name != "tcp" {
			fmt.Fprintf(os.Stderr, "soak: unknown transport %q\n", t.name)
			os.Exit(2)
		}
		if t.name == "tcp" {
			if err := t.startListener(); err != nil {
				fmt.Fprintf(os.Stderr, "soak: %v\n", err)
				os.Exit(1)
			}
		}
		allTransports = append(allTransports, t)
	}

	var wg sync.WaitGroup
	for _, t := range allTransports {
		wg.Add(1)
		go t.loop(deadline, total, &wg)
	}

	// Samples until every transport loop is done.
	loopsDone := make(chan struct{})
	go func() { wg.Wait(); close(loopsDone) }()
	var samples []sample
	tick := time.NewTicker(time.Duration(*sampleSec * float64(time.Second)))
	takeSample := func() {
		s := sample{t: elapsed(), rss: map[string]int64{}}
		line := fmt.Sprintf("sample t=%6.1fs", s.t)
		var done, verified, errs int64
		for _, t := range allTransports {
			rss := rssKiB(int(t.curPID.Load()))
			s.rss[t.name] = rss
			line += fmt.Sprintf(" %s_rss_kib=%d", t.name, rss)
			if h, ok := t.cur().heap(false); ok {
				line += fmt.Sprintf(" %s_inuse_kib=%d", t.name, h.inuse)
			}
			done += t.st.done.Load()
			verified += t.st.bytesVerified.Load()
			errs += t.st.errors.Load()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		var live int64
		for _, t := range allTransports {
			live += t.st.live.Load()
		}
		line += fmt.Sprintf(" streams_done=%d bytes_verified=%d errors=%d live=%d go_heap_kib=%d goroutines=%d",
			done, verified, errs, live, ms.HeapInuse>>10, runtime.NumGoroutine())
		fmt.Println(line)
		samples = append(samples, s)
	}
loop:
	for {
		select {
		case <-tick.C:
			takeSample()
		case <-loopsDone:
			break loop
		}
	}
	tick.Stop()

	fail := false
	fmt.Println()
	fmt.Printf("summary: seed %d, ran %.1f s\n", seed, elapsed())
	for _, t := range allTransports {
		st := &t.st
		fmt.Printf("%s: sessions=%d (graceful=%d goaway-live=%d abrupt=%d) children=%d exit0=%d exit1=%d\n",
			t.name, st.sessions.Load(), st.graceful.Load(), st.goawayLive.Load(), st.abrupt.Load(),
			st.children.Load(), st.childExit0.Load(), st.childExit1.Load())
		fmt.Printf("%s: streams opened=%d verified=%d (empty=%d) abandoned=%d cut-by-abrupt-close=%d max-live=%d\n",
			t.name, st.opened.Load(), st.done.Load(), st.empty.Load(), st.abandoned.Load(),
			st.aborted.Load(), st.maxLive.Load())
		fmt.Printf("%s: bytes written=%d verified=%d; pings=%d (max rtt %v) ping-failures=%d; errors=%d\n",
			t.name, st.bytesOut.Load(), st.bytesVerified.Load(), st.pings.Load(),
			time.Duration(st.pingMaxNS.Load()).Round(time.Microsecond), st.pingFail.Load(), st.errors.Load())
		fmt.Printf("%s: frames sent (hashicorp): %s\n", t.name, t.tx.String())
		fmt.Printf("%s: frames received (libyamux): %s\n", t.name, t.rx.String())
		fmt.Printf("%s: ping -> pong on the wire: libyamux answering %s; hashicorp answering %s\n",
			t.name, t.pongC.String(), t.pongGo.String())
		if t.tx.bad+t.rx.bad > 0 {
			fmt.Printf("%s: frame tap lost sync (%d/%d)\n", t.name, t.tx.bad, t.rx.bad)
		}
		if st.errors.Load() > 0 {
			fail = true
		}

		// Memory. (1) The periodic RSS samples: the highest in the first
		// window after the warm-up, the highest in the last window and the
		// highest overall, reported, not judged: they measure the load (the
		// echo holds what the windows let it hold, up to tens of MiB over
		// 300 streams) and glibc's heap, which keeps freed pages resident
		// after a peak; a stdio run, a new child per session, once came out
		// 16.9 -> 24.4 MiB by them. (2) The quiesced samples, taken after a
		// drain with no stream left: with the heapstat shim, the heap bytes
		// in use (mallinfo2) and VmRSS after malloc_trim(0), the first after
		// the warm-up against the last; that is memory kept across
		// sessions, judged for tcp (one process serves every session) and
		// reported for stdio (a new child per session). Without the shim,
		// plain quiesced VmRSS is judged instead.
		win := min(2*time.Minute, total/5).Seconds()
		endT := 0.0
		for _, sm := range samples {
			endT = sm.t
		}
		var startMax, endMax, maxRSS int64
		for _, sm := range samples {
			v := sm.rss[t.name]
			maxRSS = max(maxRSS, v)
			if sm.t >= warm.Seconds() && sm.t < warm.Seconds()+win {
				startMax = max(startMax, v)
			}
			if sm.t > endT-win {
				endMax = max(endMax, v)
			}
		}
		fmt.Printf("%s: RSS (periodic, under load; not judged) max in [%.0fs..%.0fs) %d KiB, in (%.0fs..%.0fs] %d KiB, max %d KiB\n",
			t.name, warm.Seconds(), warm.Seconds()+win, startMax, endT-win, endT, endMax, maxRSS)
		t.idleMu.Lock()
		idle := t.idle
		t.idleMu.Unlock()
		var first, last *idleSample
		var rssV, inuseV, trimV []string
		for i := range idle {
			rssV = append(rssV, fmt.Sprint(idle[i].rss))
			inuseV = append(inuseV, fmt.Sprint(idle[i].inuse))
			trimV = append(trimV, fmt.Sprint(idle[i].rssTrimmed))
			if first == nil && idle[i].t >= warm.Seconds() && idle[i].rss > 0 {
				first = &idle[i]
			}
			if idle[i].rss > 0 {
				last = &idle[i]
			}
		}
		judged := t.name == "tcp"
		if first == nil || last == nil || first == last {
			fmt.Printf("%s: quiesced: too few samples after the warm-up: RSS %s KiB\n", t.name, strings.Join(rssV, " "))
			if judged && *minutes >= 5 {
				fail = true
			}
			continue
		}
		// growth: end against start, bounded by start*1.1 + slack.
		growth := func(what string, start, end, slack int64) {
			bound := start*11/10 + slack
			verdict := "flat"
			if end > bound {
				verdict = "GROWING"
				if judged {
					fail = true
				}
			}
			if !judged {
				verdict += " (not judged: a new child per session)"
			}
			fmt.Printf("%s: %s (quiesced) t=%.0fs %d KiB -> t=%.0fs %d KiB, bound %d KiB: %s\n",
				t.name, what, first.t, start, last.t, end, bound, verdict)
		}
		if first.inuse >= 0 && last.inuse >= 0 && first.rssTrimmed > 0 && last.rssTrimmed > 0 {
			growth("heap in use", first.inuse, last.inuse, 1024)
			growth("RSS after malloc_trim", first.rssTrimmed, last.rssTrimmed, 2048)
			fmt.Printf("%s: quiesced, all (KiB): heap in use %s; RSS %s; RSS after malloc_trim %s\n",
				t.name, strings.Join(inuseV, " "), strings.Join(rssV, " "), strings.Join(trimV, " "))
		} else {
			growth("RSS", first.rss, last.rss, 2048)
			fmt.Printf("%s: quiesced RSS, all (KiB): %s (no heapstat shim)\n", t.name, strings.Join(rssV, " "))
		}
	}

	// Stop the TCP echo (it serves until killed): SIGTERM is ours, anything
	// else is a crash.
	for _, t := range allTransports {
		if t.listen == nil {
			continue
		}
		c := t.listen
		c.killing.Store(true)
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		_, _, d := c.exitDesc()
		fmt.Printf("tcp echo: stopped by us (%s); stderr lines over the run: %d\n", d, len(c.stderrLines()))
		if d != "signal=terminated" {
			fail = true
		}
	}
	if fail {
		fmt.Println("soak: FAIL")
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}
