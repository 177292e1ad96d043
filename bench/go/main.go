// gobench: workloads W1-W7 of shared/bench/WORKLOADS.md for the Go peers
// (hashicorp/yamux, libp2p/go-yamux v5, xtaci/smux) and for the raw
// transport without multiplexing in Go (raw_go).
//
// One run measures one (impl, workload) pair and prints exactly one line on
// stdout:
//
//	RESULT impl=<impl> w=<W> transport=<tcp|pipe> key=value ...
//
// The client (this process) spawns itself as the server (-role=server) and
// opens every stream; the server accepts them. TCP is on 127.0.0.1 (the
// child prints "PORT n"); W2, W2pin and W7p run over the child's stdin and
// stdout (two pipes made with os.Pipe here, non-blocking fds 0/1 wrapped with
// os.NewFile in the child). W1pin/W2pin run with GOMAXPROCS=1 (the driver
// adds `taskset -c 0`).
//
// Usage: gobench -impl=hashicorp|goyamux|smux|raw_go
//
//	-w=W1|W1pin|W2|W2pin|W3|W4|W5|W6|W7|W7p|W8|W8x8|W8r100|W8m|W8lat|W9
//	[-size=N] [-chunk=N] [-streams=N] [-count=N] [-msg=N] [-resp=N]
//	[-mode=hold|read] [-exitwait=DUR] [-timeout=SECS] [-defaults]
//	[-sessions=N] [-busy=N] [-inflight=N] [-keepalive=MS] [-idle=MS] (W9)
//
// Sizes, counts and stream numbers default to WORKLOADS.md's per workload.
// Library defaults are used except where a workload cannot run with them;
// each change is printed as config=... (see newSession).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	role     string
	impl     string
	w        string
	size     int64
	chunk    int
	streams  int
	count    int
	msg      int
	resp     int
	mode     string
	exitwait time.Duration
	timeout  int
	defaults bool
	warmup   int    // W7/W8lat bulk warm-up, ms
	proxy    string // W8: toxiproxy "host:port/name"
	window   int    // hashicorp MaxStreamWindowSize (0: the default)
	// W9 (w9.go)
	sessions  int
	busy      int
	inflight  int
	keepalive int // ms
	idle      int // ms
}

var opt options

const (
	MiB = 1 << 20
	GiB = 1 << 30
)

// Per-workload defaults (0 on the command line means "the default").
func applyDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	switch opt.w {
	case "W3":
		def(&opt.streams, 8192)
		def(&opt.msg, 1024)
	case "W4":
		def(&opt.streams, 64)
		def(&opt.count, 200000)
		def(&opt.msg, 64)
	case "W5":
		def(&opt.streams, 32)
		def(&opt.count, 100000)
		def(&opt.msg, 100)
		def(&opt.resp, 1024)
	case "W6":
		def(&opt.streams, 100000)
	case "W7", "W7p":
		def(&opt.count, 20000)
		def(&opt.msg, 64)
		def(&opt.warmup, 1000)
	case "W8x8":
		def(&opt.streams, 8)
	case "W8m":
		def(&opt.streams, 1000)
		if opt.size == 0 {
			opt.size = 1000 * MiB
		}
	case "W8lat":
		def(&opt.count, 200)
		def(&opt.msg, 64)
		def(&opt.warmup, 5000)
	case "W9":
		def(&opt.count, 200000)
		def(&opt.msg, 64)
	}
	def(&opt.streams, 1)
	if opt.size == 0 && isWAN() {
		opt.size = 256 * MiB
	}
	if opt.size == 0 {
		opt.size = GiB
	}
	def(&opt.chunk, 65536)
}

func transportName() string {
	if isPipe() {
		return "pipe"
	}
	return "tcp"
}

func isPipe() bool { return opt.w == "W2" || opt.w == "W2pin" || opt.w == "W7p" }

// isWAN: the W8 family, run through the driver's toxiproxy (-proxy).
func isWAN() bool { return strings.HasPrefix(opt.w, "W8") }

// isWANBulk: W8, W8x8, W8r100, W8m (W8lat is W7 on the slow link).
func isWANBulk() bool { return isWAN() && opt.w != "W8lat" }

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gobench %s (%s %s): %s\n", opt.role, opt.impl,
		opt.w, fmt.Sprintf(format, a...))
	os.Exit(1)
}

func main() {
	flag.StringVar(&opt.role, "role", "client", "client|server (internal)")
	flag.StringVar(&opt.impl, "impl", "hashicorp", "hashicorp|goyamux|smux|raw_go")
	flag.StringVar(&opt.w, "w", "W1", "W1|W1pin|W2|W2pin|W3|W4|W5|W6|W7|W7p|W8|W8x8|W8r100|W8m|W8lat|W9")
	flag.Int64Var(&opt.size, "size", 0, "bulk bytes (W1, W2; default 1 GiB)")
	flag.IntVar(&opt.chunk, "chunk", 0, "write size (W1, W2, W7 bulk; default 64 KiB)")
	flag.IntVar(&opt.streams, "streams", 0, "streams (W3 8192, W4 64, W5 32 in flight, W6 100000)")
	flag.IntVar(&opt.count, "count", 0, "round trips / requests (W4 200000, W5 100000, W7 20000)")
	flag.IntVar(&opt.msg, "msg", 0, "message bytes (W3 1024, W4 64, W5 100, W7 64)")
	flag.IntVar(&opt.resp, "resp", 0, "W5 response bytes (1024)")
	flag.StringVar(&opt.mode, "mode", "hold", "W6 server mode: hold|read")
	opt.exitwait = 10 * time.Second
	flag.Func("exitwait", "wait this long for the server to exit (10s; a duration or seconds)",
		func(v string) error {
			if d, err := time.ParseDuration(v); err == nil {
				opt.exitwait = d
				return nil
			}
			secs, err := strconv.ParseFloat(v, 64)
			opt.exitwait = time.Duration(secs * float64(time.Second))
			return err
		})
	flag.IntVar(&opt.timeout, "timeout", 600, "abort after this many seconds")
	flag.BoolVar(&opt.defaults, "defaults", false, "library defaults even where a workload cannot run with them")
	flag.Int("depth", 0, "ignored (the C program's write depth)")
	flag.IntVar(&opt.warmup, "warmup", 0, "W7/W8lat bulk warm-up in ms (1000; W8lat 5000)")
	flag.StringVar(&opt.proxy, "proxy", "", "W8: toxiproxy API and proxy name, host:port/name")
	flag.IntVar(&opt.window, "maxwindow", 0, "hashicorp MaxStreamWindowSize (W8's info row)")
	flag.IntVar(&opt.sessions, "sessions", 10000, "W9: sessions (TCP connections)")
	flag.IntVar(&opt.busy, "busy", 1000, "W9: sessions doing the busy phase's round trips")
	flag.IntVar(&opt.inflight, "inflight", 256, "W9: sessions being established at once")
	flag.IntVar(&opt.keepalive, "keepalive", 1000, "W9: keepalive interval, ms")
	flag.IntVar(&opt.idle, "idle", 10000, "W9: the measured idle time, ms")
	flag.Parse()
	// W6hold / W6read: W6 with that -mode (for drivers that name the rows).
	if m := strings.TrimPrefix(opt.w, "W6"); m == "hold" || m == "read" {
		opt.mode = m
		opt.w = "W6"
	}
	applyDefaults()

	switch opt.impl {
	case "hashicorp", "goyamux", "smux", "raw_go":
	default:
		die("unknown -impl")
	}
	switch opt.w {
	case "W1", "W1pin", "W2", "W2pin", "W3", "W4", "W5", "W7", "W7p",
		"W8", "W8x8", "W8r100", "W8lat":
	case "W8m":
		if opt.impl == "raw_go" {
			fmt.Fprintln(os.Stderr, "gobench: W8m has no raw_go variant")
			os.Exit(2)
		}
	case "W9":
		if opt.impl != "hashicorp" && opt.impl != "goyamux" {
			fmt.Fprintln(os.Stderr, "gobench: W9 is for hashicorp and goyamux")
			os.Exit(2)
		}
		if opt.sessions < 1 || opt.busy < 1 || opt.inflight < 1 || opt.idle < 1 {
			die("W9 needs -sessions, -busy, -inflight and -idle >= 1")
		}
	case "W6":
		if opt.impl == "raw_go" {
			fmt.Fprintln(os.Stderr, "gobench: W6 has no raw_go variant")
			os.Exit(2)
		}
		if opt.mode != "hold" && opt.mode != "read" {
			die("-mode must be hold or read")
		}
	default:
		die("unknown -w")
	}
	if opt.w == "W1pin" || opt.w == "W2pin" {
		runtime.GOMAXPROCS(1)
	}
	// A hung run dies instead of stalling the driver.
	time.AfterFunc(time.Duration(opt.timeout)*time.Second, func() {
		die("timeout after %ds", opt.timeout)
	})
	if opt.impl == "raw_go" && isWANBulk() {
		opt.streams = 1 // the same transfer on one connection
	}
	if opt.w == "W9" {
		raiseNofile()
		if opt.role == "server" {
			serveW9()
		} else {
			clientW9()
		}
		os.Exit(0)
	}
	if opt.role == "server" {
		if isWANBulk() {
			rx.init()
		}
		runServer()
		os.Exit(0)
	}
	runClient()
}

// ---- process plumbing ----------------------------------------------------

type child struct {
	cmd    *exec.Cmd
	out    *bufio.Reader // the child's stdout in TCP mode
	in     *os.File      // W9: the child's stdin (commands)
	exited chan error
}

// spawn starts this program as the server. In TCP mode it returns after the
// child printed its port; in pipe mode conns are the client ends of the
// stdio pipes (and, for raw_go W7p, a second pair as fds 3/4).
func spawn() (*child, string, []*pipeConn) {
	self, err := os.Executable()
	if err != nil {
		die("executable: %v", err)
	}
	args := append(append([]string{}, os.Args[1:]...), "-role=server")
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	// The child dies with us (a killed client must not leave it running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, exited: make(chan error, 1)}
	var conns []*pipeConn
	var theirs []*os.File
	addr := ""
	if isPipe() {
		pairs := 1
		if opt.w == "W7p" && opt.impl == "raw_go" {
			pairs = 2
		}
		for i := 0; i < pairs; i++ {
			inR, inW, err1 := os.Pipe()   // client -> server
			outR, outW, err2 := os.Pipe() // server -> client
			if err1 != nil || err2 != nil {
				die("pipe: %v %v", err1, err2)
			}
			conns = append(conns, &pipeConn{r: outR, w: inW})
			theirs = append(theirs, inR, outW)
		}
		cmd.Stdin = theirs[0]
		cmd.Stdout = theirs[1]
		cmd.ExtraFiles = theirs[2:]
	} else {
		// Our own pipe rather than cmd.StdoutPipe: Wait closes that one when
		// the child exits, and W6 reads the child's last line after that.
		r, w, err := os.Pipe()
		if err != nil {
			die("pipe: %v", err)
		}
		cmd.Stdout = w
		theirs = append(theirs, w)
		c.out = bufio.NewReader(r)
		if opt.w == "W9" {
			ir, iw, err := os.Pipe()
			if err != nil {
				die("pipe: %v", err)
			}
			cmd.Stdin = ir
			theirs = append(theirs, ir)
			c.in = iw
		}
	}
	if err := cmd.Start(); err != nil {
		die("spawn: %v", err)
	}
	for _, f := range theirs {
		f.Close()
	}
	if c.out != nil {
		line := c.readLine()
		port, err := strconv.Atoi(strings.TrimPrefix(line, "PORT "))
		if !strings.HasPrefix(line, "PORT ") || err != nil {
			die("bad port line %q", line)
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if opt.proxy != "" {
			addr = proxyRoute(port)
		}
	}
	go func() { c.exited <- cmd.Wait() }()
	return c, addr, conns
}

func (c *child) readLine() string {
	line, err := c.out.ReadString('\n')
	if err != nil {
		die("reading the child's stdout: %v", err)
	}
	return strings.TrimSpace(line)
}

// wait waits up to d for the child to exit; returns the time it took and
// whether it exited (it is killed otherwise).
func (c *child) wait(d time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	select {
	case err := <-c.exited:
		if err != nil {
			die("server: %v", err)
		}
		return time.Since(t0), true
	case <-time.After(d):
		c.cmd.Process.Kill()
		<-c.exited
		return time.Since(t0), false
	}
}

// clientSession sets up the transport and, for a multiplexer, the session.
// Not timed.
func clientSession(addr string, conns []*pipeConn) Session {
	if opt.impl == "raw_go" {
		if isPipe() {
			return &rawPipes{conns: conns}
		}
		return rawTCPClient{addr}
	}
	var conn net.Conn
	if isPipe() {
		conn = conns[0]
	} else {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			die("dial: %v", err)
		}
		conn = c
	}
	s, err := newSession(conn, false)
	if err != nil {
		die("session: %v", err)
	}
	return s
}

// stdioConn wraps the child's fds 0/1 (and for raw_go W7p fds 3/4) as
// non-blocking files so that they use the netpoller.
func stdioConn(rfd, wfd int) *pipeConn {
	for _, fd := range []int{rfd, wfd} {
		if err := syscall.SetNonblock(fd, true); err != nil {
			die("nonblock fd %d: %v", fd, err)
		}
	}
	return &pipeConn{r: os.NewFile(uintptr(rfd), "in"),
		w: os.NewFile(uintptr(wfd), "out")}
}

// serverSession: TCP listens and prints the port; a multiplexer then accepts
// the one connection.
func serverSession() Session {
	if isPipe() {
		// Writing to fd 1 after the client went away must give EPIPE, not
		// kill the process (Go's default for fds 1 and 2).
		signal.Ignore(syscall.SIGPIPE)
		conns := []*pipeConn{stdioConn(0, 1)}
		if opt.impl == "raw_go" {
			if opt.w == "W7p" {
				conns = append(conns, stdioConn(3, 4))
			}
			return &rawPipes{conns: conns}
		}
		s, err := newSession(conns[0], true)
		if err != nil {
			die("session: %v", err)
		}
		return s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	if opt.impl == "raw_go" {
		return rawTCPServer{ln}
	}
	c, err := ln.Accept()
	if err != nil {
		die("accept: %v", err)
	}
	ln.Close()
	s, err := newSession(c, true)
	if err != nil {
		die("session: %v", err)
	}
	return s
}

// rawExpected is how many connections a raw_go server accepts before it
// waits for its handlers and exits (a multiplexer's server instead runs
// until the session ends).
func rawExpected() int {
	switch opt.w {
	case "W3", "W4":
		return opt.streams
	case "W5":
		return opt.count
	case "W7", "W7p", "W8lat":
		return 2
	}
	return 1
}

func runServer() {
	sess := serverSession()
	if opt.w == "W6" {
		serveIdle(sess)
		return
	}
	var wg sync.WaitGroup
	n := 0
	for {
		if opt.impl == "raw_go" && n == rawExpected() {
			break
		}
		st, err := sess.Accept()
		if err != nil {
			break // the client closed the session: done
		}
		n++
		wg.Add(1)
		go func(i int, st Stream) {
			defer wg.Done()
			serveStream(i, st)
		}(n, st)
	}
	if opt.impl == "raw_go" {
		wg.Wait()
	}
	sess.Close()
}

// ---- results ---------------------------------------------------------------

func printResult(kv ...interface{}) {
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT impl=%s w=%s transport=%s", opt.impl, opt.w,
		transportName())
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	fmt.Fprintf(&b, " config=%s lib=%s go=%s gomaxprocs=%d", configString(),
		libVersion(), runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Println(b.String())
}

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
func f0(x float64) string { return strconv.FormatFloat(x, 'f', 0, 64) }
func f6(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }

// readFull and discard helpers.
func readN(r io.Reader, buf []byte, n int64) error {
	for n > 0 {
		b := buf
		if int64(len(b)) > n {
			b = b[:n]
		}
		m, err := r.Read(b)
		n -= int64(m)
		if err != nil && n > 0 {
			return err
		}
	}
	return nil
}
