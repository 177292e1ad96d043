package main

// --faults: the network fault matrix of `make test-faults`. Each cell puts
// toxiproxy (a fresh server per cell) between a libyamux session (the C
// program test/faults/yxfault, built with ASan and LeakSanitizer) and a Go
// session on hashicorp/yamux or libp2p/go-yamux, over TCP, with libyamux as
// the yamux client (it connects through the proxy) or as the server (the Go
// side connects through the proxy), and applies one toxic:
//
//	reset_peer        RST both ways in the middle of a two-way transfer
//	timeout           a black hole (data stops both ways, no FIN) in the
//	                  middle of a transfer: keepalive must end the session
//	                  within interval + timeout
//	slicer            every chunk cut into 1-10 byte segments with delays
//	limit_data/CLASS  the connection to libyamux closes after N bytes of the
//	                  Go side's Data frames, N inside a frame header, right
//	                  after a header, inside a body, at a frame boundary
//	latency           50 ms +/- 40 ms each way
//	bandwidth         1 KB/s each way
//	slow_close/peer   the Go side closes mid-transfer; its FIN is held 1.5 s
//	slow_close/local  libyamux closes; the Go side's FIN is held 3 s
//
// The C side checks what it can see alone (every request completes exactly
// once with an allowed status, every byte read is the peer's at that
// offset, no EOF on a cut-off stream, the loop is never blocked, nothing
// leaks); this side checks what depends on the cell (end status, timings,
// byte counts) and what the Go library saw. One table on stdout; exit 1 if
// any cell failed.
//
//	go-peer --faults [--toxiproxy BIN] [--cside BIN] [--cells a,b] [--jobs N]

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// faultWork is the workload, the same on both sides (yxfault's flags).
type faultWork struct {
	complete     bool
	bulk         int
	bulkBytes    int64
	writeSize    int
	churn        int // -1: none, 0: until the session ends
	churnBytes   int
	churnMs      int
	inbound      int
	inboundBytes int64
	inboundChunk int
	paused       int // of the inbound streams, read only after the fault
	pausedBytes  int64
	pings        int // -1: none, 0: until the session ends
	pingMs       int
	holdBytes    int64
	holdUnacked  bool // the Go side never accepts the hold stream
	keepalive    int  // ms, 0: off
	kaTimeout    int
	closeTimeout int
	maxWindow    int
	deadlineMs   int
	closeAt      int // ms: libyamux closes the session then
	// Go side only: after the bulk streams, wait this long before each
	// Accept, so that some of libyamux's opens wait for their ACK when
	// the fault hits.
	acceptDelayMs int
}

func (w faultWork) args() []string {
	a := []string{}
	add := func(k string, v any) { a = append(a, k, fmt.Sprint(v)) }
	if w.complete {
		a = append(a, "--complete")
	}
	if w.bulk > 0 {
		add("--bulk", w.bulk)
		add("--bulk-bytes", w.bulkBytes)
		add("--write-size", w.writeSize)
	}
	if w.churn >= 0 {
		add("--churn", w.churn)
		add("--churn-bytes", w.churnBytes)
		add("--churn-ms", w.churnMs)
	}
	if w.inbound > 0 {
		add("--inbound", w.inbound)
		add("--inbound-bytes", w.inboundBytes)
	}
	if w.paused > 0 {
		add("--paused", w.paused)
		add("--paused-bytes", w.pausedBytes)
	}
	if w.pings >= 0 {
		add("--pings", w.pings)
		add("--ping-ms", w.pingMs)
	}
	if w.holdBytes > 0 {
		add("--hold-bytes", w.holdBytes)
	}
	if w.holdUnacked {
		a = append(a, "--hold-unacked")
	}
	if w.keepalive > 0 {
		add("--keepalive", w.keepalive)
		add("--keepalive-timeout", w.kaTimeout)
	}
	if w.closeTimeout > 0 {
		add("--close-timeout", w.closeTimeout)
	}
	if w.maxWindow > 0 {
		add("--max-window", w.maxWindow)
	}
	if w.deadlineMs > 0 {
		add("--deadline-ms", w.deadlineMs)
	}
	if w.closeAt > 0 {
		add("--close-at", w.closeAt)
	}
	return a
}

// faultRow is one toxic (a row of the matrix, run for every library and
// role).
type faultRow struct {
	name string
	work faultWork
	// toxics in place before the connection is made
	pre func(c *faultCell) error
	// the Go side's part (run in its own goroutine); applies the fault
	goSide func(c *faultCell)
	// checks of the cell's outcome; each string is a failure
	judge func(c *faultCell) []string
}

// How libyamux may see an RST: a failed read or write, or UV_EOF, which
// libuv reports when the RST's POLLHUP comes with data it read only in
// part (uv__stream_io's short cut; the error is then left unread).
var resetEnds = []string{"ECONNRESET", "EPIPE", "EOF"}

const (
	kaInterval = 500
	kaTimeout  = 500
	mib        = 1 << 20
	kib        = 1 << 10
)

// A transfer that outlasts the fault: 2 streams of 64 MiB echoed, 64 MiB
// inbound, a new small stream every 20 ms, a ping every 50 ms, and a stream
// the Go side accepts and never reads (a write and the FIN wait for window).
func midTransferWork() faultWork {
	return faultWork{bulk: 2, bulkBytes: 64 * mib, writeSize: 64 * kib,
		churn: 0, churnBytes: 2048, churnMs: 20, inbound: 1,
		inboundBytes: 64 * mib, inboundChunk: 16 * kib, pings: 0, pingMs: 50,
		holdBytes: 300000, deadlineMs: 20000, acceptDelayMs: 100}
}

func limitRow(class string, j int) faultRow {
	return faultRow{
		name: "limit_data/" + class,
		work: faultWork{inbound: 2, inboundBytes: limitFrames * limitBody,
			paused: 1, pausedBytes: limitPaused,
			holdBytes: 300000, holdUnacked: true, churn: -1, pings: -1, maxWindow: 262144,
			deadlineMs: 15000},
		goSide: func(c *faultCell) { c.limitGo(j) },
		judge:  func(c *faultCell) []string { return c.judgeLimit(j) },
	}
}

func faultRows() []faultRow {
	rows := []faultRow{
		{
			name: "reset_peer",
			work: midTransferWork(),
			// toxiproxy sets SO_LINGER 0 (close = RST) only on links that
			// start with a reset_peer toxic: put it there harmless
			// (toxicity 0) and turn it on mid-transfer.
			pre: func(c *faultCell) error {
				return c.tp.addToxic("p", "reset", "reset_peer", c.toC, 0,
					map[string]any{"timeout": 0})
			},
			goSide: func(c *faultCell) {
				c.echoAndSend()
				c.faultWhenEchoed(512*kib, func() error {
					return c.tp.setToxicity("p", "reset", 1)
				})
			},
			judge: func(c *faultCell) []string {
				return c.judgeMidTransfer(resetEnds,
					"writes", "shutdowns", "connects")
			},
		},
		{
			// The same while libyamux's transport writes are stuck: the
			// proxy takes its bytes at 1 KB/s for 300 ms (the socket
			// buffers fill), then resets both connections on the next
			// chunk the Go side sends (its pings: its streams wait for
			// window by then).
			name: "reset_peer/stalled",
			work: midTransferWork(),
			pre: func(c *faultCell) error {
				return c.tp.addToxic("p", "reset", "reset_peer", c.toC, 0,
					map[string]any{"timeout": 0})
			},
			goSide: func(c *faultCell) {
				c.echoAndSend()
				c.faultWhenEchoed(512*kib, func() error {
					if err := c.tp.addToxic("p", "slow", "bandwidth", c.fromC,
						1, map[string]any{"rate": 1}); err != nil {
						return err
					}
					time.Sleep(300 * time.Millisecond)
					c.pingEvery(20 * time.Millisecond)
					return c.tp.setToxicity("p", "reset", 1)
				})
			},
			judge: func(c *faultCell) []string {
				return c.judgeMidTransfer(resetEnds,
					"writes", "shutdowns", "pings")
			},
		},
		{
			name: "timeout",
			work: func() faultWork {
				w := midTransferWork()
				w.keepalive, w.kaTimeout = kaInterval, kaTimeout
				return w
			}(),
			goSide: func(c *faultCell) {
				c.echoAndSend()
				c.faultWhenEchoed(512*kib, func() error {
					for _, dir := range []string{c.toC, c.fromC} {
						if err := c.tp.addToxic("p", "hole_"+dir, "timeout",
							dir, 1, map[string]any{"timeout": 0}); err != nil {
							return err
						}
					}
					return nil
				})
			},
			judge: func(c *faultCell) []string {
				p := c.judgeMidTransfer([]string{"YAMUX_EKEEPALIVE"},
					"writes", "shutdowns", "connects", "pings")
				return append(p, c.judgeDetection()...)
			},
		},
		{
			name: "slicer",
			work: faultWork{complete: true, bulk: 1, bulkBytes: 8 * kib,
				writeSize: 1024, churn: 3, churnBytes: 300, churnMs: 20,
				inbound: 1, inboundBytes: 8 * kib, inboundChunk: 1024, pings: 5,
				pingMs: 40, keepalive: kaInterval, kaTimeout: kaTimeout,
				deadlineMs: 40000},
			pre: func(c *faultCell) error {
				for _, dir := range []string{c.toC, c.fromC} {
					// average 6 +/- 4: segments of 1 to 10 bytes, 200 us
					// apart.
					if err := c.tp.addToxic("p", "slice_"+dir, "slicer", dir,
						1, map[string]any{"average_size": 6,
							"size_variation": 4, "delay": 200}); err != nil {
						return err
					}
				}
				return nil
			},
			goSide: func(c *faultCell) { c.echoAndSend() },
			judge: func(c *faultCell) []string {
				p := c.judgeComplete()
				// About 20 KB each way in pieces of at most 10 bytes,
				// 200 us apart.
				if ms := c.resInt("close_ms"); ms < 500 {
					p = append(p, fmt.Sprintf("workload done in %d ms: the "+
						"slicer was not in the path", ms))
				}
				return p
			},
		},
		limitRow("header", 6),
		limitRow("header_end", 12),
		limitRow("body", 12+limitBody/2),
		limitRow("boundary", 0),
		{
			name: "latency",
			work: faultWork{complete: true, bulk: 2, bulkBytes: 256 * kib,
				writeSize: 16 * kib, churn: 10, churnBytes: 2048, churnMs: 20,
				inbound: 1, inboundBytes: 256 * kib, inboundChunk: 16 * kib,
				pings: 10, pingMs: 50, keepalive: kaInterval,
				kaTimeout: kaTimeout, deadlineMs: 20000},
			pre: func(c *faultCell) error {
				for _, dir := range []string{c.toC, c.fromC} {
					if err := c.tp.addToxic("p", "lat_"+dir, "latency", dir, 1,
						map[string]any{"latency": 50, "jitter": 40}); err != nil {
						return err
					}
				}
				return nil
			},
			goSide: func(c *faultCell) { c.echoAndSend() },
			judge: func(c *faultCell) []string {
				p := c.judgeComplete()
				// Both directions delay at least 10 ms.
				rtt := c.resInt("rtt_min_us")
				c.note("ping rtt %d-%d ms", rtt/1000, c.resInt("rtt_max_us")/1000)
				if rtt < 20000 {
					p = append(p, fmt.Sprintf("ping rtt %d us: the latency "+
						"toxic was not in the path", rtt))
				}
				return p
			},
		},
		{
			name: "bandwidth",
			work: faultWork{complete: true, bulk: 1, bulkBytes: 1024,
				writeSize: 256, churn: 2, churnBytes: 128, churnMs: 200,
				inbound: 1, inboundBytes: 1024, inboundChunk: 256, pings: 3,
				pingMs: 300, keepalive: kaInterval, kaTimeout: kaTimeout,
				deadlineMs: 30000},
			pre: func(c *faultCell) error {
				for _, dir := range []string{c.toC, c.fromC} {
					if err := c.tp.addToxic("p", "bw_"+dir, "bandwidth", dir, 1,
						map[string]any{"rate": 1}); err != nil {
						return err
					}
				}
				return nil
			},
			goSide: func(c *faultCell) { c.echoAndSend() },
			judge: func(c *faultCell) []string {
				p := c.judgeComplete()
				// About 2.5 KB each way at 1 KB/s.
				if ms := c.resInt("close_ms"); ms < 1500 {
					p = append(p, fmt.Sprintf("workload done in %d ms: the "+
						"bandwidth toxic was not in the path", ms))
				}
				return p
			},
		},
		{
			name: "slow_close/peer",
			work: midTransferWork(),
			pre: func(c *faultCell) error {
				return c.tp.addToxic("p", "slow", "slow_close", c.toC, 1,
					map[string]any{"delay": slowPeerMs})
			},
			goSide: func(c *faultCell) {
				c.echoAndSend()
				c.faultWhenEchoed(512*kib, func() error {
					return c.sess.Close()
				})
			},
			judge: func(c *faultCell) []string {
				p := c.judgeMidTransfer([]string{"EOF", "ECONNRESET"},
					"writes", "shutdowns", "connects", "pings")
				if c.endAt.IsZero() || c.faultStart.IsZero() {
					return p
				}
				// The peer's FIN reaches us slowPeerMs after its close.
				d := c.endAt.Sub(c.faultStart)
				if d < slowPeerMs*time.Millisecond-100*time.Millisecond ||
					d > (slowPeerMs+1500)*time.Millisecond {
					p = append(p, fmt.Sprintf("session ended %v after the "+
						"peer's close, its FIN was held %d ms", d.Round(time.Millisecond),
						slowPeerMs))
				}
				return p
			},
		},
		{
			// libyamux closes while its transport writes are stuck (the
			// proxy takes its bytes at 1 KB/s): the flush cannot finish,
			// close_timeout_ms ends it, the write the transport holds is
			// cancelled.
			name: "bandwidth/stuck_close",
			work: func() faultWork {
				w := midTransferWork()
				w.closeAt, w.closeTimeout = 1200, stuckCloseTimeout
				return w
			}(),
			goSide: func(c *faultCell) {
				c.echoAndSend()
				c.faultWhenEchoed(512*kib, func() error {
					return c.tp.addToxic("p", "slow", "bandwidth", c.fromC,
						1, map[string]any{"rate": 1})
				})
			},
			judge: func(c *faultCell) []string {
				var p []string
				if c.res("end") != "none" {
					p = append(p, "the session ended by itself: "+c.res("end"))
				}
				took := c.resInt("closed_ms") - c.resInt("close_ms")
				c.note("close took %d ms", took)
				if took > stuckCloseTimeout+500 {
					p = append(p, fmt.Sprintf("yamux_session_close took %d "+
						"ms with close_timeout_ms %d", took, stuckCloseTimeout))
				}
				if wr := c.tally("writes"); wr[2] == 0 {
					p = append(p, "no write was cancelled by the close")
				}
				return p
			},
		},
		{
			name: "slow_close/local",
			work: faultWork{complete: true, bulk: 1, bulkBytes: 64 * kib,
				writeSize: 16 * kib, churn: 5, churnBytes: 2048, churnMs: 20,
				inbound: 1, inboundBytes: 64 * kib, inboundChunk: 16 * kib,
				pings: 5, pingMs: 50, keepalive: kaInterval,
				kaTimeout: kaTimeout, closeTimeout: slowCloseTimeout,
				deadlineMs: 20000},
			pre: func(c *faultCell) error {
				for _, dir := range []string{c.toC, c.fromC} {
					if err := c.tp.addToxic("p", "slow_"+dir, "slow_close", dir,
						1, map[string]any{"delay": 3000}); err != nil {
						return err
					}
				}
				return nil
			},
			goSide: func(c *faultCell) { c.echoAndSend() },
			judge: func(c *faultCell) []string {
				p := c.judgeComplete()
				// The close must not wait for the held FIN beyond
				// close_timeout_ms.
				took := c.resInt("closed_ms") - c.resInt("close_ms")
				c.note("close took %d ms", took)
				if took > slowCloseTimeout+500 {
					p = append(p, fmt.Sprintf("yamux_session_close took %d ms "+
						"(close_timeout_ms %d) while the peer's FIN was held",
						took, slowCloseTimeout))
				}
				return p
			},
		},
	}
	return rows
}

const (
	slowPeerMs        = 1500
	slowCloseTimeout  = 2000
	stuckCloseTimeout = 1000
	limitFrames       = 100
	limitBody         = 1000
	limitCut          = 10 // frames before the cut
	limitPaused       = 20000
)

type faultSpec struct {
	row     *faultRow
	lib     string
	cClient bool
}

func (s faultSpec) role() string {
	if s.cClient {
		return "client"
	}
	return "server"
}

func (s faultSpec) name() string {
	return s.row.name + "/" + s.lib + "/" + s.role()
}

type faultResult struct {
	spec   faultSpec
	ok     bool
	secs   float64
	detail string
	issues []string
}

func faultsMain(args []string) int {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	toxi := fs.String("toxiproxy", "build/toxiproxy/toxiproxy-server",
		"toxiproxy-server binary")
	cside := fs.String("cside", "build-asan/faults/yxfault",
		"the libyamux side (test/faults/yxfault.c)")
	only := fs.String("cells", "", "run only cells whose name (row/lib/role) "+
		"contains one of these comma-separated strings")
	jobs := fs.Int("jobs", 2, "cells run at once")
	verbose := fs.Bool("v", false, "show the C side's log and stderr")
	list := fs.Bool("list", false, "list the cells")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rows := faultRows()
	var specs []faultSpec
	for i := range rows {
		for _, lib := range []string{"hashicorp", "goyamux"} {
			for _, cc := range []bool{true, false} {
				s := faultSpec{row: &rows[i], lib: lib, cClient: cc}
				if *only != "" {
					match := false
					for _, o := range strings.Split(*only, ",") {
						match = match || strings.Contains(s.name(), o)
					}
					if !match {
						continue
					}
				}
				specs = append(specs, s)
			}
		}
	}
	if *list {
		for _, s := range specs {
			fmt.Println(s.name())
		}
		return 0
	}
	if len(specs) == 0 {
		fmt.Fprintln(os.Stderr, "faults: no cell matches --cells")
		return 2
	}
	for _, bin := range []string{*toxi, *cside} {
		if _, err := os.Stat(bin); err != nil {
			fmt.Fprintf(os.Stderr, "faults: %v\n", err)
			return 2
		}
	}
	start := time.Now()
	results := make([]faultResult, len(specs))
	var wg sync.WaitGroup
	next := make(chan int)
	var outMu sync.Mutex
	for w := 0; w < *jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := runFaultCell(specs[i], *toxi, *cside, *verbose)
				results[i] = r
				outMu.Lock()
				res := "PASS"
				if !r.ok {
					res = "FAIL"
				}
				fmt.Fprintf(os.Stderr, "faults: %-38s %s %5.1fs %s\n",
					specs[i].name(), res, r.secs, r.detail)
				outMu.Unlock()
			}
		}()
	}
	for i := range specs {
		next <- i
	}
	close(next)
	wg.Wait()

	failed := 0
	fmt.Printf("\n%-21s %-10s %-9s %-6s %6s  %s\n", "toxic", "go peer",
		"libyamux", "result", "secs", "detail")
	for _, r := range results {
		res := "PASS"
		if !r.ok {
			res = "FAIL"
			failed++
		}
		fmt.Printf("%-21s %-10s %-9s %-6s %6.1f  %s\n", r.spec.row.name,
			r.spec.lib, r.spec.role(), res, r.secs, r.detail)
	}
	fmt.Printf("\n%d cells, %d passed, %d failed, %.0f s\n", len(results),
		len(results)-failed, failed, time.Since(start).Seconds())
	if failed > 0 {
		fmt.Println("\nFailures:")
		sorted := append([]faultResult(nil), results...)
		sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].ok && !sorted[b].ok })
		for _, r := range sorted {
			if r.ok {
				continue
			}
			fmt.Printf("  %s:\n", r.spec.name())
			for _, is := range r.issues {
				fmt.Printf("    - %s\n", is)
			}
		}
		return 1
	}
	return 0
}
