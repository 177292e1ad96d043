package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var respOnce sync.Once
var respData []byte

// respBuf is the W5 response, shared by every handler (never modified).
func respBuf() []byte {
	respOnce.Do(func() { respData = make([]byte, opt.resp) })
	return respData
}

var echoBufs = sync.Pool{New: func() interface{} { b := make([]byte, 4096); return &b }}

func runClient() {
	c, addr, conns := spawn()
	sess := clientSession(addr, conns)
	if opt.w == "W6" {
		clientIdle(c, sess)
		return
	}
	var kv []interface{}
	switch opt.w {
	case "W1", "W1pin", "W2", "W2pin":
		kv = clientBulk(sess)
	case "W8", "W8x8", "W8r100", "W8m":
		kv = clientWANBulk(sess)
	case "W3":
		kv = clientFanout(sess)
	case "W4":
		kv = clientRPC(sess)
	case "W5":
		kv = clientSPR(sess)
	case "W7", "W7p", "W8lat":
		kv = clientHOL(sess)
	}
	// Teardown (not timed): end the session, the server exits.
	sess.Close()
	if d, ok := c.wait(opt.exitwait); !ok {
		fmt.Fprintf(os.Stderr, "gobench: server did not exit within %v, killed\n", d)
		kv = append(kv, "server_exit", "killed")
	}
	if isWANBulk() {
		kv = append(kv, rxKeys(c)...)
	}
	printResult(kv...)
}

// serveStream is the server's handler for the i-th accepted stream (from 1).
func serveStream(i int, st Stream) {
	switch opt.w {
	case "W1", "W1pin", "W2", "W2pin":
		buf := make([]byte, 65536)
		if err := readN(st, buf, opt.size); err != nil {
			die("bulk read: %v", err)
		}
		// Write errors are not checked here: the client checks what it
		// gets, and a write that was sent may still report an error when
		// the client ends the session right after (smux).
		st.Write([]byte{1})
		drain(st, buf) // until the client's close
	case "W8", "W8x8", "W8r100", "W8m":
		serveWANBulk(st)
	case "W3", "W4":
		echo(st)
	case "W5":
		req := make([]byte, opt.msg)
		if _, err := io.ReadFull(st, req); err != nil {
			die("request read: %v", err)
		}
		st.Write(respBuf())
	case "W7", "W7p", "W8lat":
		if i == 1 { // stream A: bulk sink, acks the client's end of data
			buf := make([]byte, 65536)
			drain(st, buf)
			// Not closed after the ack: smux v1.5.56 drops unread data
			// when a FIN reaches a stream that already sent its own FIN
			// (stream.tryHalfCloseCleanup -> recycleTokens), so the client
			// would see EOF instead of the ack. The session end frees A.
			st.Write([]byte{1})
			return
		}
		echo(st)
	}
	st.Close()
}

func drain(r io.Reader, buf []byte) {
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// echo writes back whatever it reads until EOF.
func echo(st Stream) {
	bp := echoBufs.Get().(*[]byte)
	defer echoBufs.Put(bp)
	buf := *bp
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if _, werr := st.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// ---- W1/W2 bulk ------------------------------------------------------------

func clientBulk(sess Session) []interface{} {
	st, err := sess.Open()
	if err != nil {
		die("open: %v", err)
	}
	pattern := make([]byte, opt.chunk)
	for i := range pattern {
		pattern[i] = 'x'
	}
	var ack [1]byte
	t0 := time.Now()
	for sent := int64(0); sent < opt.size; {
		n := int64(opt.chunk)
		if opt.size-sent < n {
			n = opt.size - sent
		}
		if _, err := st.Write(pattern[:n]); err != nil {
			die("write: %v", err)
		}
		sent += n
	}
	if _, err := io.ReadFull(st, ack[:]); err != nil {
		die("reading the ack: %v", err)
	}
	secs := time.Since(t0).Seconds()
	st.Close()
	return []interface{}{"size", opt.size, "chunk", opt.chunk, "secs", f6(secs),
		"mibps", f1(float64(opt.size) / secs / MiB)}
}

// ---- W3 fan-out echo -------------------------------------------------------

func clientFanout(sess Session) []interface{} {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	msg := make([]byte, opt.msg)
	var failed atomic.Value
	for i := 0; i < opt.streams; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			buf := make([]byte, opt.msg)
			ready.Done()
			<-start
			st, err := sess.Open()
			if err == nil {
				_, err = st.Write(msg)
			}
			if err == nil {
				_, err = io.ReadFull(st, buf)
			}
			if err != nil {
				failed.Store(err.Error())
				return
			}
			st.Close()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	secs := time.Since(t0).Seconds()
	if e := failed.Load(); e != nil {
		die("a stream failed: %v", e)
	}
	return []interface{}{"streams", opt.streams, "msg", opt.msg, "secs", f6(secs)}
}

// ---- W4 rpc ----------------------------------------------------------------

func roundTrip(st Stream, msg, buf []byte) {
	if _, err := st.Write(msg); err != nil {
		die("write: %v", err)
	}
	if _, err := io.ReadFull(st, buf); err != nil {
		die("read: %v", err)
	}
}

func clientRPC(sess Session) []interface{} {
	n := opt.streams
	msg := make([]byte, opt.msg)
	sts := make([]Stream, n)
	for i := range sts {
		st, err := sess.Open()
		if err != nil {
			die("open: %v", err)
		}
		roundTrip(st, msg, make([]byte, opt.msg)) // warm-up, untimed
		sts[i] = st
	}
	lat := make([]int64, opt.count)
	var done sync.WaitGroup
	start := make(chan struct{})
	off := 0
	for i := 0; i < n; i++ {
		k := opt.count / n
		if i < opt.count%n {
			k++
		}
		mine := lat[off : off+k]
		off += k
		done.Add(1)
		go func(st Stream, mine []int64) {
			defer done.Done()
			buf := make([]byte, opt.msg)
			<-start
			for j := range mine {
				t := time.Now()
				roundTrip(st, msg, buf)
				mine[j] = int64(time.Since(t))
			}
		}(sts[i], mine)
	}
	t0 := time.Now()
	close(start)
	done.Wait()
	secs := time.Since(t0).Seconds()
	for _, st := range sts {
		st.Close()
	}
	p := percentiles(lat)
	return []interface{}{"streams", n, "count", opt.count, "msg", opt.msg,
		"secs", f6(secs), "rtt_per_s", f0(float64(opt.count) / secs),
		"p50_us", f1(p.p50), "p99_us", f1(p.p99), "max_us", f1(p.max)}
}

type pct struct{ p50, p99, max float64 }

// percentiles (nearest rank) of durations in ns, returned in µs.
func percentiles(ns []int64) pct {
	s := append([]int64(nil), ns...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return float64(s[i]) / 1e3
	}
	return pct{at(0.50), at(0.99), float64(s[len(s)-1]) / 1e3}
}

// ---- W5 stream per request ------------------------------------------------

func clientSPR(sess Session) []interface{} {
	msg := make([]byte, opt.msg)
	var next int64
	var done sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < opt.streams; w++ {
		done.Add(1)
		go func() {
			defer done.Done()
			buf := make([]byte, opt.resp+1)
			<-start
			for atomic.AddInt64(&next, 1) <= int64(opt.count) {
				st, err := sess.Open()
				if err != nil {
					die("open: %v", err)
				}
				if _, err := st.Write(msg); err != nil {
					die("write: %v", err)
				}
				got := 0
				for {
					n, err := st.Read(buf[got:])
					got += n
					if err == io.EOF {
						break
					}
					if err != nil {
						die("read: %v", err)
					}
					if got > opt.resp {
						die("response longer than %d", opt.resp)
					}
				}
				if got != opt.resp {
					die("response of %d bytes, want %d", got, opt.resp)
				}
				st.Close()
			}
		}()
	}
	t0 := time.Now()
	close(start)
	done.Wait()
	secs := time.Since(t0).Seconds()
	return []interface{}{"count", opt.count, "streams", opt.streams,
		"msg", opt.msg, "resp", opt.resp, "secs", f6(secs),
		"req_per_s", f0(float64(opt.count) / secs)}
}

// ---- W7 head-of-line -------------------------------------------------------

// W8lat's loaded phase ends after this long even if fewer than -count round
// trips were done: a multiplexer that queues seconds of bulk ahead of them
// would otherwise take many minutes (bench/README.md).
const w8latMaxLoaded = 60 * time.Second

func clientHOL(sess Session) []interface{} {
	a, err := sess.Open()
	if err != nil {
		die("open A: %v", err)
	}
	var bulkBytes int64
	var stop int32
	bulkDone := make(chan struct{})
	go func() {
		pattern := make([]byte, opt.chunk)
		for atomic.LoadInt32(&stop) == 0 {
			if _, err := a.Write(pattern); err != nil {
				die("bulk write: %v", err)
			}
			atomic.AddInt64(&bulkBytes, int64(len(pattern)))
		}
		// End A and wait until the server has read all of it, so that the
		// idle phase below really has no bulk traffic.
		a.CloseWrite()
		var ack [1]byte
		if _, err := io.ReadFull(a, ack[:]); err != nil {
			die("bulk ack: %v", err)
		}
		a.Close()
		close(bulkDone)
	}()
	time.Sleep(time.Duration(opt.warmup) * time.Millisecond) // bulk warm-up
	b, err := sess.Open()
	if err != nil {
		die("open B: %v", err)
	}
	msg := make([]byte, opt.msg)
	buf := make([]byte, opt.msg)
	roundTrip(b, msg, buf) // warm-up, untimed
	lat := make([]int64, opt.count)
	b0 := atomic.LoadInt64(&bulkBytes)
	t0 := time.Now()
	for j := range lat {
		if isWAN() && time.Since(t0) > w8latMaxLoaded {
			lat = lat[:j] // count= says how many were done
			break
		}
		t := time.Now()
		roundTrip(b, msg, buf)
		lat[j] = int64(time.Since(t))
	}
	secs := time.Since(t0).Seconds()
	b1 := atomic.LoadInt64(&bulkBytes)
	atomic.StoreInt32(&stop, 1)
	<-bulkDone
	idle := make([]int64, opt.count)
	for j := range idle {
		t := time.Now()
		roundTrip(b, msg, buf)
		idle[j] = int64(time.Since(t))
	}
	b.Close()
	p, q := percentiles(lat), percentiles(idle)
	// W7 in microseconds; W8lat, across the emulated link, in ms.
	u, f := "us", f1
	if isWAN() {
		u, f = "ms", func(us float64) string { return strconv.FormatFloat(us/1e3, 'f', 2, 64) }
	}
	return []interface{}{"count", len(lat), "msg", opt.msg, "chunk", opt.chunk,
		"secs", f6(secs), "p50_" + u, f(p.p50), "p99_" + u, f(p.p99),
		"max_" + u, f(p.max), "bulk_mibps", f1(float64(b1-b0) / secs / MiB),
		"idle_p50_" + u, f(q.p50), "idle_p99_" + u, f(q.p99),
		"idle_max_" + u, f(q.max), "p99_ratio",
		strconv.FormatFloat(p.p99/q.p99, 'f', 2, 64)}
}

// ---- W6 idle streams -------------------------------------------------------

type mem struct{ rss, heap int64 }

func settle() mem {
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return mem{vmRSS(), int64(ms.HeapInuse)}
}

func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		die("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024
		}
	}
	die("no VmRSS")
	return 0
}

func parseMem(line, tag string) mem {
	var m mem
	if _, err := fmt.Sscanf(line, tag+" rss=%d heap=%d", &m.rss, &m.heap); err != nil {
		die("bad line from the server %q (want %s)", line, tag)
	}
	return m
}

func serveIdle(sess Session) {
	base := settle()
	fmt.Printf("BASE rss=%d heap=%d\n", base.rss, base.heap)
	held := make([]Stream, 0, opt.streams)
	for len(held) < opt.streams {
		st, err := sess.Accept()
		if err != nil {
			die("accept after %d: %v", len(held), err)
		}
		held = append(held, st)
		if opt.mode == "read" {
			go func(st Stream) {
				buf := make([]byte, 64)
				for {
					if _, err := st.Read(buf); err != nil {
						return
					}
				}
			}(st)
		}
	}
	fmt.Println("ACCEPTED")
	m := settle()
	fmt.Printf("RSS rss=%d heap=%d\n", m.rss, m.heap)
	// Hold everything until the client ends the session.
	for {
		if _, err := sess.Accept(); err != nil {
			break
		}
	}
	t := time.Now()
	sess.Close()
	fmt.Printf("CLOSED ms=%.3f\n", float64(time.Since(t))/1e6)
	runtime.KeepAlive(held)
}

func clientIdle(c *child, sess Session) {
	base := settle()
	sbase := parseMem(c.readLine(), "BASE")
	held := make([]Stream, 0, opt.streams)
	t0 := time.Now()
	for i := 0; i < opt.streams; i++ {
		st, err := sess.Open()
		if err != nil {
			die("open %d: %v", i, err)
		}
		held = append(held, st)
	}
	openSecs := time.Since(t0).Seconds()
	if l := c.readLine(); l != "ACCEPTED" {
		die("unexpected line from the server %q", l)
	}
	acceptedSecs := time.Since(t0).Seconds()
	sm := parseMem(c.readLine(), "RSS")
	m := settle()
	runtime.KeepAlive(held)
	n := float64(opt.streams)
	kv := []interface{}{"streams", opt.streams, "mode", opt.mode,
		"client_rss_per_stream", f1(float64(m.rss-base.rss) / n),
		"server_rss_per_stream", f1(float64(sm.rss-sbase.rss) / n),
		"client_heap_per_stream", f1(float64(m.heap-base.heap) / n),
		"server_heap_per_stream", f1(float64(sm.heap-sbase.heap) / n),
		"open_secs", f6(openSecs), "accepted_secs", f6(acceptedSecs)}
	// Teardown: close the session with every stream open, wait for the
	// server to exit.
	t1 := time.Now()
	sess.Close()
	closeMs := float64(time.Since(t1)) / 1e6
	left := opt.exitwait - time.Since(t1)
	if left < 0 {
		left = 0
	}
	_, exited := c.wait(left)
	tearSecs := time.Since(t1).Seconds()
	srvClose := "-1" // the server's "CLOSED ms=" line, if it got that far
	if l, err := c.out.ReadString('\n'); err == nil {
		var ms float64
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "CLOSED ms=%g", &ms); err == nil {
			srvClose = strconv.FormatFloat(ms, 'f', 3, 64)
		}
	}
	kv = append(kv, "close_ms", strconv.FormatFloat(closeMs, 'f', 3, 64),
		"server_close_ms", srvClose)
	if exited {
		kv = append(kv, "teardown_secs", f6(tearSecs))
	} else {
		kv = append(kv, "teardown_secs",
			"KILLED>"+strconv.FormatFloat(opt.exitwait.Seconds(), 'f', -1, 64))
	}
	printResult(kv...)
}
