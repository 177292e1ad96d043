package main

// W9, many sessions (bench/README.md): the client holds -sessions TCP
// connections, each a yamux session with one stream; the server accepts
// them all, a goroutine per session accepting its streams and one per stream
// echoing (GOMAXPROCS = cores, Go's default). Phases as in bench/w9.c: every
// session is established with one round trip (-inflight at a time), both
// sides settle 2 s (runtime.GC, debug.FreeOSMemory), then -idle ms with
// keepalive every -keepalive ms measure RSS growth and CPU of both
// processes (the client reads the server's from /proc/<pid>); then -busy
// sessions do -count round trips of -msg bytes.
//
// The server reads commands on its stdin: "SETTLE" (it collects garbage and
// answers "SETTLED") and EOF, which ends it.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const w9Settle = 2 * time.Second

var keepaliveOnce sync.Once

// keepaliveW9 is the keepalive interval of every W9 session (a config
// change, printed once).
func keepaliveW9() time.Duration {
	d := time.Duration(opt.keepalive) * time.Millisecond
	keepaliveOnce.Do(func() {
		configChanges = append(configChanges, "KeepAliveInterval:"+d.String())
	})
	return d
}

// raiseNofile: one descriptor per session and some to spare, up to the hard
// limit.
func raiseNofile() {
	var rl syscall.Rlimit
	need := uint64(opt.sessions) + 64
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		die("getrlimit: %v", err)
	}
	if rl.Cur >= need {
		return
	}
	if rl.Max < need {
		die("-sessions=%d needs %d open files in each process, but the hard "+
			"limit (RLIMIT_NOFILE, ulimit -Hn) is %d: raise it or use fewer "+
			"sessions", opt.sessions, need, rl.Max)
	}
	rl.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		die("setrlimit: %v", err)
	}
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		die("%v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(l); len(fs) >= 2 && fs[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024
		}
	}
	die("no VmRSS for %d", pid)
	return 0
}

// procCPU is the CPU time of every thread of the process in ns
// (schedstat's run time), as bench/w9.c reads it.
func procCPU(pid int) int64 {
	dirs, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	if err != nil || len(dirs) == 0 {
		die("no threads for %d", pid)
	}
	var sum int64
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		if fs := strings.Fields(string(b)); len(fs) > 0 {
			ns, _ := strconv.ParseInt(fs[0], 10, 64)
			sum += ns
		}
	}
	return sum
}

func collect() {
	runtime.GC()
	debug.FreeOSMemory()
}

// ---- server ------------------------------------------------------------------

func serveW9() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	collect()
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() != "SETTLE" {
				die("unexpected command %q", sc.Text())
			}
			collect()
			fmt.Println("SETTLED")
		}
		os.Exit(0) // EOF: the client is done
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			die("accept: %v", err)
		}
		go serveSessionW9(c)
	}
}

func serveSessionW9(c net.Conn) {
	s, err := newSession(c, true)
	if err != nil {
		die("session: %v", err)
	}
	for {
		st, err := s.Accept()
		if err != nil {
			s.Close()
			return
		}
		go echoW9(st)
	}
}

// echoW9 echoes until EOF with a buffer of one message: the least a
// goroutine blocked in Read can hold.
func echoW9(st Stream) {
	buf := make([]byte, opt.msg)
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if _, werr := st.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			st.Close()
			return
		}
	}
}

// ---- client ------------------------------------------------------------------

func clientW9() {
	c, addr, _ := spawn()
	srv, self := c.cmd.Process.Pid, os.Getpid()
	n := opt.sessions
	busy := opt.busy
	if busy > n {
		busy = n
	}
	sessions := make([]Session, n)
	streams := make([]Stream, n)
	lat := make([]int64, opt.count)
	collect()
	srvRSS0, rss0 := procRSS(srv), procRSS(self)

	// Establish every session: connect, session, stream, one round trip.
	var next int64 = -1
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < opt.inflight && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := make([]byte, opt.msg), make([]byte, opt.msg)
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					die("dial: %v", err)
				}
				s, err := newSession(conn, false)
				if err != nil {
					die("session: %v", err)
				}
				st, err := s.Open()
				if err != nil {
					die("open: %v", err)
				}
				roundTrip(st, msg, buf)
				sessions[i], streams[i] = s, st
			}
		}()
	}
	wg.Wait()
	established := time.Now()
	connectSecs := established.Sub(t0).Seconds()

	// Settle, then idle with keepalive.
	collect()
	fmt.Fprintln(c.in, "SETTLE")
	if l := c.readLine(); l != "SETTLED" {
		die("unexpected line from the server %q", l)
	}
	time.Sleep(time.Until(established.Add(w9Settle)))
	srvRSS1, rss1 := procRSS(srv), procRSS(self)
	srvCPU0, cpu0 := procCPU(srv), procCPU(self)
	ti := time.Now()
	time.Sleep(time.Duration(opt.idle) * time.Millisecond)
	srvCPU1, cpu1 := procCPU(srv), procCPU(self)
	idleSecs := time.Since(ti).Seconds()

	// Busy: the first -busy sessions, count/busy round trips each.
	start := make(chan struct{})
	off := 0
	for i := 0; i < busy; i++ {
		k := opt.count / busy
		if i < opt.count%busy {
			k++
		}
		mine := lat[off : off+k]
		off += k
		wg.Add(1)
		go func(st Stream, mine []int64) {
			defer wg.Done()
			msg, buf := make([]byte, opt.msg), make([]byte, opt.msg)
			<-start
			for j := range mine {
				t := time.Now()
				roundTrip(st, msg, buf)
				mine[j] = int64(time.Since(t))
			}
		}(streams[i], mine)
	}
	tb := time.Now()
	close(start)
	wg.Wait()
	busySecs := time.Since(tb).Seconds()

	// Teardown (not timed).
	for _, s := range sessions {
		s.Close()
	}
	c.in.Close()
	if d, ok := c.wait(opt.exitwait); !ok {
		die("the server did not exit within %v", d)
	}
	p := percentiles(lat)
	fn := float64(n)
	printResult("sessions", n, "busy", busy, "count", opt.count, "msg", opt.msg,
		"connect_secs", f6(connectSecs),
		"server_rss_per_session", f1(float64(srvRSS1-srvRSS0)/fn),
		"client_rss_per_session", f1(float64(rss1-rss0)/fn),
		"idle_cpu_pct", strconv.FormatFloat(float64(srvCPU1-srvCPU0)/1e9/idleSecs*100, 'f', 2, 64),
		"client_idle_cpu_pct", strconv.FormatFloat(float64(cpu1-cpu0)/1e9/idleSecs*100, 'f', 2, 64),
		"idle_secs", strconv.FormatFloat(idleSecs, 'f', 3, 64),
		"secs", f6(busySecs), "rtt_per_s", f0(float64(opt.count)/busySecs),
		"p50_us", f1(p.p50), "p99_us", f1(p.p99), "max_us", f1(p.max))
}
