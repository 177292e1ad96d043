package main

// The W8 family: bulk through the driver's toxiproxy (an emulated WAN
// link), with the server's receive timeline. The same method as the C
// program (bench/bench.c): the server counts what arrives in 100 ms buckets
// from its first byte, samples its RSS at the start of each, and prints one
// RECV line when it has everything; the client relates the timeline to its
// first write. Both processes read CLOCK_MONOTONIC.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// proxyRoute points the driver's proxy (-proxy=host:port/name) at the
// server's port and returns the address the proxy listens on.
func proxyRoute(port int) string {
	api, name, ok := strings.Cut(opt.proxy, "/")
	if !ok {
		die("bad -proxy %q (want host:port/name)", opt.proxy)
	}
	body := fmt.Sprintf(`{"upstream":"127.0.0.1:%d"}`, port)
	resp, err := http.Post("http://"+api+"/proxies/"+name, "application/json",
		strings.NewReader(body))
	if err != nil {
		die("toxiproxy API: %v", err)
	}
	defer resp.Body.Close()
	var p struct {
		Listen string `json:"listen"`
	}
	if resp.StatusCode != http.StatusOK {
		die("toxiproxy API: POST /proxies/%s: %s", name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Listen == "" {
		die("toxiproxy API: no listen address (%v)", err)
	}
	return p.Listen
}

// monoNow is CLOCK_MONOTONIC in ns (the clock the other processes read):
// read once, then advanced by Go's own monotonic clock.
var monoT0 = time.Now()
var monoNs0 = clockMonotonic()

func clockMonotonic() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		die("clock_gettime: %v", e)
	}
	return ts.Nano()
}

func monoNow() int64 { return monoNs0 + int64(time.Since(monoT0)) }

const bucketNs = int64(100 * time.Millisecond)

// ---- server: the receive timeline ------------------------------------------

type timeline struct {
	mu             sync.Mutex
	total          int64
	t0, half, last int64
	rss0, rssPeak  int64
	buckets        []int64
}

var rx timeline

func (t *timeline) init() { t.rss0, t.rssPeak = vmRSS(), vmRSS() }

func (t *timeline) sampleRSS() {
	if r := vmRSS(); r > t.rssPeak {
		t.rssPeak = r
	}
}

// add counts n bytes; true for the call that completes -size.
func (t *timeline) add(n int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := monoNow()
	if t.total == 0 {
		t.t0 = now
	}
	k := int((now - t.t0) / bucketNs)
	for len(t.buckets) <= k {
		t.buckets = append(t.buckets, 0)
		t.sampleRSS()
	}
	t.buckets[k] += int64(n)
	t.total += int64(n)
	if t.total > opt.size {
		die("received too much")
	}
	if t.half == 0 && 2*t.total >= opt.size {
		t.half = now
	}
	t.last = now
	return t.total == opt.size
}

func (t *timeline) report() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sampleRSS()
	var b strings.Builder
	fmt.Fprintf(&b, "RECV t0=%d half=%d last=%d rss0=%d rss_peak=%d buckets=",
		t.t0, t.half, t.last, t.rss0, t.rssPeak)
	for i, v := range t.buckets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	fmt.Println(b.String())
}

// serveWANBulk reads and counts; the stream that brings the last byte
// acks. raw_go first answers the client's 1-byte probe.
func serveWANBulk(st Stream) {
	buf := make([]byte, 65536)
	if opt.impl == "raw_go" {
		if _, err := io.ReadFull(st, buf[:1]); err != nil {
			die("probe read: %v", err)
		}
		st.Write(buf[:1])
	}
	for {
		n, err := st.Read(buf)
		if n > 0 && rx.add(n) {
			rx.report()
			st.Write([]byte{1})
		}
		if err != nil {
			return
		}
	}
}

// ---- client ---------------------------------------------------------------

var tStart int64   // monoNow() at the first write
var probeMs = -1.0 // raw_go: the untimed 1-byte round trip

// clientWANBulk: -streams streams share -size; timed from the first write
// to the server's ack (on whichever stream brought the last byte).
func clientWANBulk(sess Session) []interface{} {
	sts := make([]Stream, opt.streams)
	for i := range sts {
		st, err := sess.Open()
		if err != nil {
			die("open: %v", err)
		}
		sts[i] = st
	}
	if opt.impl == "raw_go" { // the link's round-trip time, untimed
		var b [1]byte
		t := time.Now()
		if _, err := sts[0].Write(b[:]); err != nil {
			die("probe: %v", err)
		}
		if _, err := io.ReadFull(sts[0], b[:]); err != nil {
			die("probe: %v", err)
		}
		probeMs = float64(time.Since(t)) / 1e6
	}
	pattern := make([]byte, opt.chunk)
	for i := range pattern {
		pattern[i] = 'x'
	}
	acked := make(chan struct{}, len(sts))
	start := make(chan struct{})
	for i, st := range sts {
		share := opt.size / int64(len(sts))
		if int64(i) < opt.size%int64(len(sts)) {
			share++
		}
		go func(st Stream, share int64) {
			<-start
			for sent := int64(0); sent < share; {
				n := int64(opt.chunk)
				if share-sent < n {
					n = share - sent
				}
				if _, err := st.Write(pattern[:n]); err != nil {
					die("write: %v", err)
				}
				sent += n
			}
		}(st, share)
		go func(st Stream) {
			var ack [1]byte
			if _, err := io.ReadFull(st, ack[:]); err == nil {
				acked <- struct{}{}
			}
		}(st)
	}
	t0 := time.Now()
	tStart = monoNow()
	close(start)
	<-acked
	secs := time.Since(t0).Seconds()
	for _, st := range sts {
		st.Close() // raw_go: the server reads until the connection ends
	}
	return []interface{}{"size", opt.size, "chunk", opt.chunk,
		"streams", opt.streams, "secs", f6(secs),
		"mibps", f1(float64(opt.size) / secs / MiB)}
}

// rxKeys reads the server's RECV line (after the child exited) and derives
// steady_mibps (the last half of the bytes, as the server received them),
// ramp_secs (first write to the start of the first 0.5 s window whose rate
// reaches 80 % of steady_mibps; the whole transfer when shorter than one
// window; its end if no window gets there) and rx_rss_mib.
func rxKeys(c *child) []interface{} {
	var line string
	for !strings.HasPrefix(line, "RECV ") {
		l, err := c.out.ReadString('\n')
		if err != nil {
			die("no receive report from the server")
		}
		line = strings.TrimSpace(l)
	}
	var t timeline
	var list string
	if _, err := fmt.Sscanf(line, "RECV t0=%d half=%d last=%d rss0=%d rss_peak=%d buckets=%s",
		&t.t0, &t.half, &t.last, &t.rss0, &t.rssPeak, &list); err != nil {
		die("bad receive report %q: %v", line, err)
	}
	for _, f := range strings.Split(list, ",") {
		v, _ := strconv.ParseInt(f, 10, 64)
		t.buckets = append(t.buckets, v)
	}
	steady := 0.0
	if t.last > t.half {
		steady = float64(opt.size-opt.size/2) / (float64(t.last-t.half) / 1e9) / MiB
	}
	dur := float64(t.last-t.t0) / 1e9
	ramp := float64(t.last-tStart) / 1e9
	if dur < 0.5 {
		if dur > 0 && float64(opt.size)/dur/MiB >= 0.8*steady {
			ramp = float64(t.t0-tStart) / 1e9
		}
	} else {
		for k := 0; float64(k+5)*0.1 <= dur && k+5 <= len(t.buckets); k++ {
			var bytes int64
			for _, v := range t.buckets[k : k+5] {
				bytes += v
			}
			if float64(bytes)/0.5/MiB >= 0.8*steady {
				ramp = float64(t.t0+int64(k)*bucketNs-tStart) / 1e9
				break
			}
		}
	}
	kv := []interface{}{"steady_mibps", f1(steady),
		"ramp_secs", strconv.FormatFloat(ramp, 'f', 3, 64),
		"rx_rss_mib", f1(float64(t.rssPeak-t.rss0) / MiB)}
	if probeMs >= 0 {
		kv = append(kv, "rtt_ms", f1(probeMs))
	}
	return kv
}
