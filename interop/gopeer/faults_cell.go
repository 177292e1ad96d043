package main

// One cell of the fault matrix (faults.go): toxiproxy, the C side
// (yxfault) and the Go session, the Go side's workload, and the checks.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fpattern fills p with the bytes at offset off of the stream with id seed:
// yxfault's pattern() (splitmix64 of the 8-byte block number).
func fpattern(seed uint32, off int64, p []byte) {
	block := int64(-1)
	var x uint64
	for i := range p {
		o := off + int64(i)
		if o>>3 != block {
			block = o >> 3
			x = uint64(seed)<<40 ^ uint64(block)
			x += 0x9E3779B97F4A7C15
			x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
			x = (x ^ (x >> 27)) * 0x94D049BB133111EB
			x ^= x >> 31
		}
		p[i] = byte(x >> (8 * (uint64(o) & 7)))
	}
}

// patternMismatch returns the index of the first byte of p that is not the
// pattern's, or -1.
func patternMismatch(seed uint32, off int64, p []byte) int {
	want := make([]byte, len(p))
	fpattern(seed, off, want)
	for i := range p {
		if p[i] != want[i] {
			return i
		}
	}
	return -1
}

// tapConn copies what the Go library writes once recording starts.
type tapConn struct {
	net.Conn
	mu  sync.Mutex
	on  bool
	rec []byte
}

func (t *tapConn) Write(b []byte) (int, error) {
	t.mu.Lock()
	if t.on && len(t.rec) < 1<<20 {
		t.rec = append(t.rec, b...)
	}
	t.mu.Unlock()
	return t.Conn.Write(b)
}

func (t *tapConn) record() {
	t.mu.Lock()
	t.on = true
	t.mu.Unlock()
}

func (t *tapConn) recorded() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.rec...)
}

type faultBuf struct {
	mu  sync.Mutex
	b   bytes.Buffer
	tee bool
}

func (f *faultBuf) Write(p []byte) (int, error) {
	f.mu.Lock()
	if f.b.Len() < 1<<20 {
		f.b.Write(p)
	}
	f.mu.Unlock()
	if f.tee {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func (f *faultBuf) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.b.String()
}

type faultCell struct {
	spec    faultSpec
	lib     Lib
	tp      *toxiServer
	toC     string // toxiproxy stream carrying the Go side's bytes to C
	fromC   string
	cside   string
	verbose bool

	conn *tapConn
	sess Session

	cmd      *exec.Cmd
	stderr   *faultBuf
	listenCh chan int
	endedCh  chan struct{}
	exited   chan struct{}
	waitErr  error
	killed   bool

	mu          sync.Mutex
	issues      []string
	notes       []string
	faultStart  time.Time // just before the fault was applied
	faultDone   time.Time // once toxiproxy (or the Go library) said it was
	endAt       time.Time // when the C side's END line arrived
	endStatus   string
	result      map[string]string
	resultSeen  bool
	limitID     uint32
	held        []Stream
	stop        chan struct{}
	goWG        sync.WaitGroup
	echoed      atomic.Int64 // bytes the Go side echoed
	echoClean   atomic.Int64 // echo streams that ended with FIN
	echoBroken  atomic.Int64
	echoDone    atomic.Int64 // bytes of the streams that ended with FIN
	sentOK      atomic.Int64 // inbound streams sent whole and closed both ways
	limitWrote  atomic.Int64
	limitErrStr atomic.Value
}

func (c *faultCell) issue(format string, a ...any) {
	c.mu.Lock()
	c.issues = append(c.issues, fmt.Sprintf(format, a...))
	c.mu.Unlock()
}

func (c *faultCell) note(format string, a ...any) {
	c.mu.Lock()
	c.notes = append(c.notes, fmt.Sprintf(format, a...))
	c.mu.Unlock()
}

func (c *faultCell) res(k string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.result[k]
}

func (c *faultCell) resInt(k string) int64 {
	v, err := strconv.ParseInt(c.res(k), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// tally is yxfault's issued/ok/canceled/other of a request kind.
func (c *faultCell) tally(k string) [4]int64 {
	var t [4]int64
	for i, f := range strings.Split(c.res(k), "/") {
		if i < 4 {
			t[i], _ = strconv.ParseInt(f, 10, 64)
		}
	}
	return t
}

// startC runs the C side and reads its lines.
func (c *faultCell) startC(args []string) error {
	if c.verbose {
		args = append(args, "-v")
	}
	c.cmd = exec.Command(c.cside, args...)
	c.stderr = &faultBuf{tee: c.verbose}
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	c.listenCh = make(chan int, 1)
	c.endedCh = make(chan struct{})
	c.exited = make(chan struct{})
	if err := c.cmd.Start(); err != nil {
		return err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "LISTEN":
				if len(f) > 1 {
					p, _ := strconv.Atoi(f[1])
					c.listenCh <- p
				}
			case "END":
				c.mu.Lock()
				c.endAt = time.Now()
				if len(f) > 1 {
					c.endStatus = f[1]
				}
				c.mu.Unlock()
				close(c.endedCh)
			case "RESULT":
				m := map[string]string{}
				for _, kv := range f[1:] {
					if k, v, ok := strings.Cut(kv, "="); ok {
						m[k] = v
					}
				}
				c.mu.Lock()
				c.result = m
				c.resultSeen = true
				c.mu.Unlock()
			}
			if c.verbose {
				fmt.Fprintf(os.Stderr, "yxfault: %s\n", line)
			}
		}
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	return nil
}

func (c *faultCell) killC() {
	if c.cmd != nil && c.cmd.Process != nil {
		c.killed = true
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// connect makes the transport through the proxy and the Go session.
func (c *faultCell) connect() error {
	var raw net.Conn
	args := c.spec.row.work.args()
	if c.spec.cClient {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		listen, err := c.tp.proxy("p", ln.Addr().String())
		if err != nil {
			return err
		}
		if c.spec.row.pre != nil {
			if err := c.spec.row.pre(c); err != nil {
				return err
			}
		}
		if err := c.startC(append([]string{"--client", "--connect", listen},
			args...)); err != nil {
			return err
		}
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		raw, err = ln.Accept()
		if err != nil {
			return fmt.Errorf("no connection from the C side through the "+
				"proxy: %v", err)
		}
	} else {
		if err := c.startC(append([]string{"--server", "--listen",
			"127.0.0.1:0"}, args...)); err != nil {
			return err
		}
		var port int
		select {
		case port = <-c.listenCh:
		case <-c.exited:
			return errors.New("the C side exited before listening")
		case <-time.After(10 * time.Second):
			return errors.New("the C side did not listen within 10 s")
		}
		listen, err := c.tp.proxy("p", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		if c.spec.row.pre != nil {
			if err := c.spec.row.pre(c); err != nil {
				return err
			}
		}
		raw, err = net.Dial("tcp", listen)
		if err != nil {
			return err
		}
	}
	c.conn = &tapConn{Conn: raw}
	cfg := &MuxConfig{KeepAlive: -1, Verbose: c.verbose}
	var err error
	if c.spec.cClient {
		c.sess, err = c.lib.Server(c.conn, cfg)
	} else {
		c.sess, err = c.lib.Client(c.conn, cfg)
	}
	return err
}

// ---- the Go side's workloads ------------------------------------------------

// echoAndSend echoes every stream libyamux opens (checking the pattern) and
// opens the inbound streams (pattern, FIN, then expects libyamux's FIN).
func (c *faultCell) echoAndSend() {
	w := c.spec.row.work
	c.goWG.Add(1)
	go func() {
		defer c.goWG.Done()
		for n := 0; ; n++ {
			if n >= w.bulk && w.acceptDelayMs > 0 {
				select {
				case <-c.stop:
					return
				case <-time.After(time.Duration(w.acceptDelayMs) *
					time.Millisecond):
				}
			}
			st, err := c.sess.Accept()
			if err != nil {
				return
			}
			if n == w.bulk && w.holdBytes > 0 {
				// libyamux's hold stream (opened right after the bulk
				// ones): never read, so no Window Update.
				c.mu.Lock()
				c.held = append(c.held, st)
				c.mu.Unlock()
				continue
			}
			c.goWG.Add(1)
			go func() {
				defer c.goWG.Done()
				c.echo(st)
			}()
		}
	}()
	for i := 0; i < w.inbound; i++ {
		c.goWG.Add(1)
		go func() {
			defer c.goWG.Done()
			c.send(w.inboundBytes, w.inboundChunk)
		}()
	}
}

func (c *faultCell) echo(st Stream) {
	id := st.StreamID()
	buf := make([]byte, 32*kib)
	var off int64
	for {
		n, err := st.Read(buf)
		if n > 0 {
			if i := patternMismatch(id, off, buf[:n]); i >= 0 {
				c.issue("Go side: stream %d: byte %d is not what libyamux "+
					"wrote", id, off+int64(i))
			}
			off += int64(n)
			c.echoed.Add(int64(n))
			if _, werr := st.Write(buf[:n]); werr != nil {
				c.echoBroken.Add(1)
				return
			}
		}
		if err == io.EOF {
			st.CloseWrite()
			c.echoClean.Add(1)
			c.echoDone.Add(off)
			return
		}
		if err != nil {
			c.echoBroken.Add(1)
			return
		}
	}
}

func (c *faultCell) send(size int64, chunk int) {
	st, err := c.sess.Open()
	if err != nil {
		if c.spec.row.work.complete {
			c.issue("Go side: open: %v", err)
		}
		return
	}
	id := st.StreamID()
	buf := make([]byte, chunk)
	for off := int64(0); off < size; off += int64(chunk) {
		n := int64(chunk)
		if size-off < n {
			n = size - off
		}
		fpattern(id, off, buf[:n])
		if _, err := st.Write(buf[:n]); err != nil {
			return
		}
	}
	st.CloseWrite()
	rest, err := io.ReadAll(st)
	if len(rest) > 0 {
		c.issue("Go side: inbound stream %d: libyamux sent %d bytes, want "+
			"none", id, len(rest))
	}
	if err == nil {
		c.sentOK.Add(1)
	}
}

// faultWhenEchoed applies the fault once the Go side echoed `at` bytes.
func (c *faultCell) faultWhenEchoed(at int64, apply func() error) {
	c.goWG.Add(1)
	go func() {
		defer c.goWG.Done()
		// Late enough that pings and opens are under way too.
		early := time.After(300 * time.Millisecond)
		for c.echoed.Load() < at || early != nil {
			if c.echoed.Load() >= at {
				select {
				case <-early:
					early = nil
					continue
				case <-c.stop:
				case <-c.endedCh:
				}
			}
			select {
			case <-c.stop:
				c.issue("the fault was never applied: the transfer stopped "+
					"at %d bytes echoed", c.echoed.Load())
				return
			case <-c.endedCh:
				c.issue("the session ended before the fault (%d bytes echoed)",
					c.echoed.Load())
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		c.applyFault(apply)
	}()
}

func (c *faultCell) applyFault(apply func() error) {
	t := time.Now()
	err := apply()
	c.mu.Lock()
	c.faultStart, c.faultDone = t, time.Now()
	c.mu.Unlock()
	if err != nil {
		c.issue("applying the fault: %v", err)
	}
}

// pingEvery sends a ping from the Go side every d until the cell ends
// (each waits for its pong in its own goroutine).
func (c *faultCell) pingEvery(d time.Duration) {
	c.goWG.Add(1)
	go func() {
		defer c.goWG.Done()
		for {
			select {
			case <-c.stop:
				return
			case <-c.endedCh:
				return
			case <-time.After(d):
				go c.sess.Ping()
			}
		}
	}()
}

// limitGo: the Go side opens two streams and sends limitPaused bytes on
// the second (libyamux does not read it until the session ended), waits
// until the link is quiet, has toxiproxy cut the connection to libyamux
// after n bytes, and writes limitFrames Data frames of limitBody bytes on
// the first. It never accepts libyamux's hold stream (no ACK, no Window
// Update), so that nothing else leaves after the cut is set and n lands
// where the row says.
func (c *faultCell) limitGo(j int) {
	st, err := c.sess.Open()
	if err != nil {
		c.issue("Go side: open: %v", err)
		return
	}
	ps, err := c.sess.Open()
	if err != nil {
		c.issue("Go side: open: %v", err)
		return
	}
	pbuf := make([]byte, limitPaused)
	fpattern(ps.StreamID(), 0, pbuf)
	if _, err := ps.Write(pbuf); err != nil {
		c.issue("Go side: write: %v", err)
		return
	}
	c.mu.Lock()
	c.limitID = st.StreamID()
	c.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	c.conn.record()
	n := limitCut*(12+limitBody) + j
	c.applyFault(func() error {
		return c.tp.addToxic("p", "limit", "limit_data", c.toC, 1,
			map[string]any{"bytes": n})
	})
	buf := make([]byte, limitBody)
	for k := 0; k < limitFrames; k++ {
		fpattern(st.StreamID(), int64(k*limitBody), buf)
		if _, err := st.Write(buf); err != nil {
			c.limitErrStr.Store(err.Error())
			break
		}
		c.limitWrote.Add(limitBody)
	}
}

// ---- judging ----------------------------------------------------------------

func runFaultCell(spec faultSpec, toxiBin, cside string,
	verbose bool) (r faultResult) {
	start := time.Now()
	r.spec = spec
	c := &faultCell{spec: spec, lib: libs[spec.lib], cside: cside,
		verbose: verbose, stop: make(chan struct{})}
	if spec.cClient {
		c.toC, c.fromC = "downstream", "upstream"
	} else {
		c.toC, c.fromC = "upstream", "downstream"
	}
	defer func() { r.secs = time.Since(start).Seconds() }()
	tp, err := startToxiproxy(toxiBin)
	if err != nil {
		r.detail, r.issues = "setup failed", []string{err.Error()}
		return r
	}
	c.tp = tp
	defer tp.stop()
	if err := c.connect(); err != nil {
		c.killC()
		r.detail = "setup failed"
		r.issues = []string{"setup: " + err.Error()}
		if c.stderr != nil && c.stderr.String() != "" {
			r.issues = append(r.issues, "C side stderr: "+
				strings.TrimSpace(c.stderr.String()))
		}
		return r
	}
	c.goWG.Add(1)
	go func() {
		defer c.goWG.Done()
		c.spec.row.goSide(c)
	}()
	limit := time.Duration(spec.row.work.deadlineMs)*time.Millisecond +
		15*time.Second
	select {
	case <-c.exited:
	case <-time.After(limit):
		c.issue("the C side did not exit within %v: killed", limit)
		c.killC()
	}
	close(c.stop)
	c.sess.Close()
	c.conn.Close()
	done := make(chan struct{})
	go func() { c.goWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.issue("the Go side's goroutines were still running 10 s after " +
			"the session closed")
	}
	c.judgeBase()
	if spec.row.judge != nil {
		for _, p := range spec.row.judge(c) {
			c.issue("%s", p)
		}
	}
	c.mu.Lock()
	r.issues = append(r.issues, c.issues...)
	r.ok = len(c.issues) == 0
	c.mu.Unlock()
	r.detail = c.detail()
	if !r.ok && !verbose {
		if s := strings.TrimSpace(c.stderr.String()); s != "" {
			r.issues = append(r.issues, "C side stderr: "+lastLines(s, 6))
		}
	}
	return r
}

func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = append([]string{"..."}, l[len(l)-n:]...)
	}
	return strings.Join(l, " | ")
}

// judgeBase: the C side exited 0 on its own, no sanitizer report, its own
// checks passed.
func (c *faultCell) judgeBase() {
	stderr := c.stderr.String()
	if strings.Contains(stderr, "Sanitizer") {
		c.issue("sanitizer report from the C side (see its stderr)")
	}
	if c.killed {
		return
	}
	var ee *exec.ExitError
	if errors.As(c.waitErr, &ee) {
		c.issue("the C side exited with %v", ee.ProcessState)
	} else if c.waitErr != nil {
		c.issue("the C side: %v", c.waitErr)
	}
	c.mu.Lock()
	seen := c.resultSeen
	c.mu.Unlock()
	if !seen {
		c.issue("the C side printed no RESULT line")
	}
}

func (c *faultCell) judgeEnd(want []string) []string {
	c.mu.Lock()
	got := c.endStatus
	c.mu.Unlock()
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	if got == "" {
		got = "no end"
	}
	return []string{fmt.Sprintf("the session ended with %s, want %s", got,
		strings.Join(want, " or "))}
}

// judgeMidTransfer: the end status is one of `ends`, and the fault did hit
// mid-transfer (the echo was not complete and writes were still pending).
// Each request kind in `pending` must have had at least one request still
// pending at the fault (it then completed with an error).
func (c *faultCell) judgeMidTransfer(ends []string,
	pending ...string) []string {
	p := c.judgeEnd(ends)
	w := c.spec.row.work
	if rx := c.resInt("rx_bulk"); rx >= int64(w.bulk)*w.bulkBytes {
		p = append(p, fmt.Sprintf("the bulk echo was complete (%d bytes) "+
			"before the fault: nothing was cut", rx))
	}
	var cut []string
	for _, k := range []string{"writes", "shutdowns", "connects", "pings"} {
		t := c.tally(k)
		cut = append(cut, fmt.Sprintf("%s %d/%d", k, t[2]+t[3], t[0]))
	}
	for _, k := range pending {
		if t := c.tally(k); t[2]+t[3] == 0 {
			p = append(p, fmt.Sprintf("no %s request was pending when the "+
				"fault hit (%d issued): the cell did not test them", k, t[0]))
		}
	}
	c.note("failed at the fault: %s", strings.Join(cut, ", "))
	return p
}

// judgeDetection: the black hole is detected within keepalive interval +
// timeout, and not before the timeout.
func (c *faultCell) judgeDetection() []string {
	c.mu.Lock()
	end, fs, fd := c.endAt, c.faultStart, c.faultDone
	c.mu.Unlock()
	if end.IsZero() || fs.IsZero() {
		return nil
	}
	upper := end.Sub(fs) // the fault began after fs, the end before we read it
	lower := end.Sub(fd)
	c.note("detected %d ms after the black hole (bound %d)",
		upper.Milliseconds(), kaInterval+kaTimeout)
	var p []string
	const slack = 250 * time.Millisecond
	if upper > (kaInterval+kaTimeout)*time.Millisecond+slack {
		p = append(p, fmt.Sprintf("keepalive took %v to detect the black "+
			"hole, bound interval %d + timeout %d ms (+%v slack)",
			upper.Round(time.Millisecond), kaInterval, kaTimeout, slack))
	}
	if lower < kaTimeout*time.Millisecond-100*time.Millisecond {
		p = append(p, fmt.Sprintf("keepalive ended the session %v after "+
			"the black hole began, sooner than its timeout (%d ms)",
			lower.Round(time.Millisecond), kaTimeout))
	}
	return p
}

// judgeComplete: on a link that only slows things down, everything
// arrives (the C side checked its part) and the Go side saw every echo
// stream and inbound stream end cleanly.
func (c *faultCell) judgeComplete() []string {
	var p []string
	w := c.spec.row.work
	if c.res("end") != "none" {
		p = append(p, "the session ended by itself: "+c.res("end"))
	}
	wantStreams := int64(w.bulk + w.churn)
	wantBytes := int64(w.bulk)*w.bulkBytes + int64(w.churn*w.churnBytes)
	if c.echoClean.Load() != wantStreams || c.echoBroken.Load() != 0 ||
		c.echoDone.Load() != wantBytes {
		p = append(p, fmt.Sprintf("Go side: %d echo streams ended with FIN "+
			"(%d bytes), %d broken; want %d (%d bytes)", c.echoClean.Load(),
			c.echoDone.Load(), c.echoBroken.Load(), wantStreams, wantBytes))
	}
	if c.sentOK.Load() != int64(w.inbound) {
		p = append(p, fmt.Sprintf("Go side: %d of %d inbound streams sent "+
			"and closed both ways", c.sentOK.Load(), w.inbound))
	}
	c.note("%d streams, %d pings", c.resInt("streams"), c.tally("pings")[1])
	return p
}

// judgeLimit: the connection was cut after n bytes of Data frames; the C
// side got every complete frame before the cut (and at most the partial
// body), its reader ended with an error (checked by yxfault), the hold
// stream's connect and stalled write failed once each.
func (c *faultCell) judgeLimit(j int) []string {
	p := c.judgeEnd([]string{"EOF", "ECONNRESET"})
	n := limitCut*(12+limitBody) + j
	lower := int64(limitCut * limitBody)
	upper := lower
	if j > 12 {
		upper += int64(j - 12)
	}
	rx := c.resInt("rx_inbound")
	if rx < lower || rx > upper {
		p = append(p, fmt.Sprintf("libyamux delivered %d bytes of the cut "+
			"stream; the complete frames before the cut hold %d, the cut "+
			"frame's partial body %d more", rx, lower, upper-lower))
	}
	if cn := c.tally("connects"); cn[0] != 1 || cn[1] != 0 {
		p = append(p, fmt.Sprintf("hold stream: connects %v (want one, "+
			"failed)", cn))
	}
	if wr := c.tally("writes"); wr[0] != 3 || wr[1] < 1 || wr[1] > 2 {
		p = append(p, fmt.Sprintf("hold stream: writes issued/ok/cancelled/"+
			"failed %v: want 3, the window-stalled last one failed", wr))
	}
	// What the Go library wrote after the cut was set must be the Data
	// frames alone, or n is not where the row says.
	rec := c.conn.recorded()
	c.mu.Lock()
	id := c.limitID
	c.mu.Unlock()
	if len(rec) < n {
		p = append(p, fmt.Sprintf("setup: the Go side wrote %d bytes after "+
			"the cut was set, fewer than the cut's %d (%v)", len(rec), n,
			c.limitErrStr.Load()))
	}
	for off := 0; off+12 <= len(rec) && off < n; off += 12 + limitBody {
		h := rec[off : off+12]
		if h[0] != 0 || h[1] != 0 || binary.BigEndian.Uint16(h[2:]) != 0 ||
			binary.BigEndian.Uint32(h[4:]) != id ||
			binary.BigEndian.Uint32(h[8:]) != limitBody {
			p = append(p, fmt.Sprintf("setup: at offset %d the Go side "+
				"wrote header % x, not Data(stream %d, %d bytes): the cut's "+
				"offset class is not known", off, h, id, limitBody))
			break
		}
	}
	if pr := c.resInt("rx_paused"); pr != limitPaused {
		p = append(p, fmt.Sprintf("the paused stream delivered %d bytes "+
			"after the session ended; %d had arrived before the cut", pr,
			limitPaused))
	}
	c.note("cut at %d: %d bytes delivered, paused stream %d", n, rx,
		c.resInt("rx_paused"))
	return p
}

func (c *faultCell) detail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := []string{}
	if c.result != nil {
		d = append(d, "end="+c.result["end"])
		busy, _ := strconv.Atoi(c.result["max_busy_us"])
		d = append(d, fmt.Sprintf("tick gap %sms busy %dms",
			c.result["max_gap_ms"], busy/1000))
	}
	d = append(d, c.notes...)
	if len(c.issues) > 0 {
		d = append(d, c.issues[0])
	}
	return strings.Join(d, "; ")
}
