package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func scenarios() []Scenario {
	return append([]Scenario{
		{name: "open_echo", run: openEcho},
		{name: "concurrent_1000", run: concurrent1000},
		{name: "concurrent_1000_seqopen", run: concurrent1000SeqOpen},
		{name: "bulk_256m", run: bulk256m},
		{name: "big_window", run: bigWindow},
		{name: "halfclose_client_first", run: halfcloseClientFirst},
		{name: "halfclose_data_flowing", run: halfcloseDataFlowing},
		{name: "reset", run: reset},
		{name: "ping", run: ping},
		{name: "keepalive", run: keepalive, extra: func(p *Peer) string {
			return p.kaArgs
		}},
		{name: "goaway", run: goaway},
		{name: "close_with_open_streams", run: closeWithOpenStreams},
		{name: "close_abrupt", run: closeAbrupt, expect: expectClean},
		{name: "hostile_benign", run: hostileBenign, raw: true},
		{name: "malformed_version", run: malformed(mVersion), expect: expectNonZero, raw: true},
		{name: "malformed_type", run: malformed(mType), expect: expectNonZero, raw: true},
		{name: "malformed_window_syn", run: malformed(mWindowSYN), expect: expectNonZero, raw: true},
		{name: "malformed_window", run: malformed(mWindow), expect: expectNonZero, raw: true},
		{name: "malformed_syn_parity", run: malformed(mSynParity), expect: expectNonZero, raw: true},
		{name: "malformed_syn_zero", run: malformed(mSynZero), expect: expectNonZero, raw: true},
		{name: "malformed_syn_dup", run: malformed(mSynDup), expect: expectNonZero, raw: true},
		{name: "malformed_syn_reused", run: malformed(mSynReused), expect: expectNonZero, raw: true},
		{name: "malformed_wu_overflow", run: malformed(mWUOverflow), expect: expectNonZero, raw: true},
	}, cdriveScenarios()...)
}

// ---- data: deterministic pseudo-random bytes, checked by SHA-256 ---------

func gen(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	binary.LittleEndian.PutUint64(s[8:], 0x6c6962796d7578) // "libymux"
	return rand.NewChaCha8(s)
}

// sendData writes total bytes from generator seed in chunks; returns their
// hash.
func sendData(w io.Writer, seed uint64, total int64, chunk int) ([32]byte,
	error) {
	g := gen(seed)
	h := sha256.New()
	buf := make([]byte, chunk)
	for left := total; left > 0; {
		n := int64(chunk)
		if n > left {
			n = left
		}
		g.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return [32]byte{}, fmt.Errorf("write after %d bytes: %w", total-left, err)
		}
		left -= n
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// expected is the hash sendData produces, without writing.
func expected(seed uint64, total int64) [32]byte {
	s, _ := sendData(io.Discard, seed, total, 256*1024)
	return s
}

type countWriter struct {
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return len(b), nil
}

// recvData reads to EOF; returns the byte count and hash. progress (may be
// nil) is updated as bytes arrive.
func recvData(r io.Reader, progress *atomic.Int64) (int64, [32]byte, error) {
	h := sha256.New()
	var w io.Writer = h
	if progress != nil {
		w = io.MultiWriter(h, countWriter{progress})
	}
	n, err := io.CopyBuffer(w, r, make([]byte, 256*1024))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return n, sum, err
}

// echoStream sends size bytes on st and half-closes, while reading the echo
// to EOF; it checks count and hash.
func echoStream(st Stream, seed uint64, size int64,
	progress *atomic.Int64) error {
	werr := make(chan error, 1)
	go func() {
		_, err := sendData(st, seed, size, 64*1024)
		if err == nil {
			err = st.CloseWrite()
		}
		werr <- err
	}()
	n, sum, rerr := recvData(st, progress)
	if err := <-werr; err != nil {
		return fmt.Errorf("stream %d: %v", st.StreamID(), err)
	}
	if rerr != nil {
		return fmt.Errorf("stream %d: read after %d bytes: %v", st.StreamID(), n,
			rerr)
	}
	if n != size {
		return fmt.Errorf("stream %d: echoed %d bytes, sent %d", st.StreamID(), n,
			size)
	}
	if sum != expected(seed, size) {
		return fmt.Errorf("stream %d: echoed bytes differ (sha256)", st.StreamID())
	}
	return nil
}

func mibps(n int64, d time.Duration) float64 {
	return float64(n) / (1 << 20) / d.Seconds()
}

// ---- library scenarios ---------------------------------------------------

func openEcho(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	if want := e.ourID(0); st.StreamID() != want {
		return "", fmt.Errorf("stream id %d, want %d", st.StreamID(), want)
	}
	msg := []byte("hello from " + e.p.lib.Name() + " " + e.p.lib.Version())
	st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(msg); err != nil {
		return "", fmt.Errorf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(st, got); err != nil {
		return "", fmt.Errorf("read echo (before our FIN): %v", err)
	}
	if !bytes.Equal(got, msg) {
		return "", fmt.Errorf("echo %q, want %q", got, msg)
	}
	st.CloseWrite()
	rest, err := io.ReadAll(st)
	if err != nil {
		return "", fmt.Errorf("read to EOF after our FIN: %v", err)
	}
	if len(rest) != 0 {
		return "", fmt.Errorf("%d unexpected bytes after the echo", len(rest))
	}
	return fmt.Sprintf("stream %d echoed %d bytes, FIN both ways", st.StreamID(),
		len(msg)), nil
}

func concurrent1000(e *Env) (string, error) {
	return concurrent(e, false)
}

// concurrent1000SeqOpen opens the streams one after the other (so the SYNs
// go out in id order), then runs all transfers at once.
func concurrent1000SeqOpen(e *Env) (string, error) {
	return concurrent(e, true)
}

func concurrent(e *Env, seqOpen bool) (string, error) {
	cfg := e.config()
	s, err := e.session(cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	const n = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int64, n)
	var total int64
	for i := range sizes {
		sizes[i] = 1 + rng.Int64N(1<<20)
		total += sizes[i]
	}
	start := time.Now()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	var opened []Stream
	if seqOpen {
		for i := 0; i < n; i++ {
			st, err := s.Open()
			if err != nil {
				return "", fmt.Errorf("open #%d: %v", i, err)
			}
			opened = append(opened, st)
		}
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var st Stream
			var err error
			if seqOpen {
				st = opened[i]
			} else if st, err = s.Open(); err != nil {
				errs <- fmt.Errorf("open #%d: %v", i, err)
				return
			}
			st.SetDeadline(time.Now().Add(e.p.timeout))
			if err := echoStream(st, uint64(1000+i), sizes[i], nil); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	var first error
	nerr := 0
	for err := range errs {
		if first == nil {
			first = err
		}
		nerr++
	}
	d := time.Since(start)
	if first != nil {
		return "", fmt.Errorf("%d of %d streams failed, first: %v", nerr, n, first)
	}
	how := "opened concurrently (SYNs may leave out of id order)"
	if seqOpen {
		how = "opened in order, transfers concurrent"
	}
	return fmt.Sprintf("%d streams %s, %.1f MiB each way, all sha256 ok, %.0f MiB/s",
		n, how, float64(total)/(1<<20), mibps(total, d)), nil
}

func bulk(e *Env, cfg *MuxConfig, size int64) (string, error) {
	s, err := e.session(cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	st.SetDeadline(time.Now().Add(e.p.timeout))
	start := time.Now()
	if err := echoStream(st, 7, size, nil); err != nil {
		return "", err
	}
	d := time.Since(start)
	return fmt.Sprintf("%d MiB echoed on one stream, sha256 ok, %.0f MiB/s each way",
		size>>20, mibps(size, d)), nil
}

func bulk256m(e *Env) (string, error) {
	return bulk(e, e.config(), 256<<20)
}

// bigWindow: hashicorp announces a 16 MiB window as a delta on its SYN
// (WindowUpdate|SYN length = 16 MiB - 256 KiB); the peer must honour it.
func bigWindow(e *Env) (string, error) {
	cfg := e.config()
	cfg.Window = 16 << 20
	d, err := bulk(e, cfg, 64<<20)
	if err != nil {
		return "", err
	}
	return "our window 16 MiB (delta on SYN): " + d, nil
}

func halfcloseClientFirst(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	// Fits in the peer's window: everything is written and FIN sent before
	// we read a byte.
	const size = 100 * 1024
	if _, err := sendData(st, 3, size, 16*1024); err != nil {
		return "", err
	}
	if err := st.CloseWrite(); err != nil {
		return "", fmt.Errorf("close (FIN): %v", err)
	}
	n, sum, err := recvData(st, nil)
	if err != nil {
		return "", fmt.Errorf("read after our FIN: %v (got %d bytes)", err, n)
	}
	if n != size || sum != expected(3, size) {
		return "", fmt.Errorf("got %d bytes (want %d) or hash mismatch", n, size)
	}
	return "wrote 100 KiB + FIN before reading; all echoed, then EOF", nil
}

func halfcloseDataFlowing(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	st.SetDeadline(time.Now().Add(e.p.timeout))
	const size = 16 << 20
	var got atomic.Int64
	var atFin int64
	finDone := make(chan error, 1)
	go func() {
		_, err := sendData(st, 4, size, 64*1024)
		if err == nil {
			atFin = got.Load()
			err = st.CloseWrite()
		}
		finDone <- err
	}()
	// A reader slower than the writer, so a good part of the echo is still
	// in flight (windows, the peer's queue) when our FIN goes out.
	h := sha256.New()
	buf := make([]byte, 64*1024)
	var n int64
	var rerr error
	for {
		k, err := st.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		got.Add(int64(k))
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	if err := <-finDone; err != nil {
		return "", fmt.Errorf("write/FIN: %v", err)
	}
	if rerr != nil {
		return "", fmt.Errorf("read after %d bytes: %v", n, rerr)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if n != size || sum != expected(4, size) {
		return "", fmt.Errorf("echoed %d bytes (want %d) or hash mismatch", n, size)
	}
	after := n - atFin
	if after <= 0 {
		return "", fmt.Errorf("no data flowed after our FIN (test too weak)")
	}
	return fmt.Sprintf("16 MiB: %d KiB still echoed after our FIN, then EOF",
		after>>10), nil
}

func ping(e *Env) (string, error) {
	cfg := e.config()
	cfg.KeepAlive = -1
	s, err := e.session(cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var rtts []time.Duration
	for i := 0; i < 20; i++ {
		rtt, err := s.Ping()
		if err != nil {
			return "", fmt.Errorf("ping %d: %v", i, err)
		}
		rtts = append(rtts, rtt)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return fmt.Sprintf("20 pings, rtt min %v median %v max %v", rtts[0],
		rtts[10], rtts[19]), nil
}

// keepalive: both sides ping often (we every 50 ms with a 2 s reply
// deadline, the peer per --keepalive-args) while one stream is saturated
// both ways. No side may declare the other dead.
func keepalive(e *Env) (string, error) {
	cfg := e.config()
	cfg.KeepAlive = 1
	cfg.KeepAliveInterval = 50 * time.Millisecond
	cfg.WriteTimeout = 2 * time.Second
	s, err := e.session(cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	st.SetDeadline(time.Now().Add(e.p.timeout))
	stop := make(chan struct{})
	var maxRTT time.Duration
	var pings int
	var pingErr error
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rtt, err := s.Ping()
			if err != nil {
				pingErr = err
				return
			}
			pings++
			if rtt > maxRTT {
				maxRTT = rtt
			}
		}
	}()
	const size = 128 << 20
	start := time.Now()
	err = echoStream(st, 9, size, nil)
	d := time.Since(start)
	close(stop)
	<-pdone
	if err != nil {
		return "", fmt.Errorf("%v (session closed: %v)", err, s.IsClosed())
	}
	if s.IsClosed() {
		return "", errors.New("session closed during the transfer (keepalive?)")
	}
	if pingErr != nil {
		return "", fmt.Errorf("ping under load: %v", pingErr)
	}
	return fmt.Sprintf("128 MiB echoed in %.1fs with keepalive 50ms both ways; %d extra pings, max rtt %v",
		d.Seconds(), pings, maxRTT.Round(time.Microsecond)), nil
}

// goaway: we send Go Away(0) while streams transfer; they must complete.
// hashicorp lets its own side keep opening after its GoAway, so the new
// open after it is sent and we report what the peer does with it.
func goaway(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	const n = 4
	const size = 8 << 20
	var progress atomic.Int64
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		st, err := s.Open()
		if err != nil {
			return "", fmt.Errorf("open: %v", err)
		}
		st.SetDeadline(time.Now().Add(e.p.timeout))
		go func(i int) { errs <- echoStream(st, uint64(50+i), size, &progress) }(i)
	}
	for progress.Load() < 1<<20 {
		time.Sleep(time.Millisecond)
	}
	if err := s.GoAway(); err != nil {
		return "", fmt.Errorf("GoAway: %v", err)
	}
	atGA := progress.Load()
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return "", fmt.Errorf("stream after our GoAway: %v", err)
		}
	}
	detail := fmt.Sprintf("%d streams finished %d MiB after our GoAway(0)", n,
		(int64(n)*size-atGA)>>20)
	st, err := s.Open()
	if err != nil {
		return detail + fmt.Sprintf("; new open after it failed locally: %v", err), nil
	}
	st.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("after goaway")
	_, werr := st.Write(msg)
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(st, got)
	switch {
	case werr == nil && rerr == nil && bytes.Equal(got, msg):
		detail += "; a new stream we opened after it was accepted and echoed"
	case e.p.lib.IsReset(rerr) || e.p.lib.IsReset(werr):
		detail += "; a new stream we opened after it was refused (RST)"
	case e.p.lib.IsTimeout(rerr):
		return "", fmt.Errorf("%s; a new stream opened after it got no answer in 5s", detail)
	default:
		detail += fmt.Sprintf("; new stream after it: write %v, read %v", werr, rerr)
	}
	return detail, nil
}

// openSome opens n streams, writes 256 KiB on each without closing, and
// reads the first KiB of each echo (so they are live both ways).
func openSome(s Session, n int) error {
	for i := 0; i < n; i++ {
		st, err := s.Open()
		if err != nil {
			return fmt.Errorf("open: %v", err)
		}
		st.SetDeadline(time.Now().Add(10 * time.Second))
		go sendData(st, uint64(i), 256*1024, 32*1024)
		if _, err := io.ReadFull(st, make([]byte, 1024)); err != nil {
			return fmt.Errorf("read: %v", err)
		}
	}
	return nil
}

// closeWithOpenStreams: hashicorp's Session.Close with live streams (it
// sends no Go Away: it closes the transport). We half-close and drain, so
// the peer reads EOF and can flush; it must end cleanly with status 0.
func closeWithOpenStreams(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	if err := openSome(s, 16); err != nil {
		s.Close()
		return "", err
	}
	s.Close()
	return "16 streams mid-transfer, Session.Close (transport EOF)", nil
}

// closeAbrupt: same, but both directions of the transport are closed at
// once, as hashicorp does with a net.Conn; the peer may get EPIPE or
// ECONNRESET while it still writes. It must not die from a signal.
func closeAbrupt(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	if err := openSome(s, 16); err != nil {
		s.Close()
		return "", err
	}
	e.c.abrupt = true
	s.Close()
	return "16 streams mid-transfer, transport closed both ways", nil
}

// reset: the library's Stream.Reset with an error code (go-yamux's
// ResetWithError) while the peer's echo is blocked on our window; then a
// new stream echoes and a ping is answered. hashicorp has no Stream.Reset:
// the RST goes out as a hand-written frame (resetRaw).
func reset(e *Env) (string, error) {
	if !e.p.lib.HasReset() {
		return resetRaw(e)
	}
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	st, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open: %v", err)
	}
	st.SetDeadline(time.Now().Add(20 * time.Second))
	// A writer that never ends and no reading beyond the first KiB: the
	// echo fills our window, then stops reading; our writer blocks too
	// (how soon depends on both sides' window auto-tuning).
	wdone := make(chan error, 1)
	go func() {
		_, err := sendData(st, 11, 1<<40, 64*1024)
		wdone <- err
	}()
	if _, err := io.ReadFull(st, make([]byte, 1024)); err != nil {
		return "", fmt.Errorf("read before the reset: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := st.Reset(42); err != nil {
		return "", fmt.Errorf("Reset(42): %v", err)
	}
	select {
	case err := <-wdone:
		if err == nil {
			return "", errors.New("writer ended without error")
		}
	case <-time.After(5 * time.Second):
		return "", errors.New("our writer went on for 5 s after Reset")
	}
	st2, err := s.Open()
	if err != nil {
		return "", fmt.Errorf("open after the reset: %v", err)
	}
	st2.SetDeadline(time.Now().Add(20 * time.Second))
	if err := echoStream(st2, 12, 100*1024, nil); err != nil {
		return "", fmt.Errorf("after the reset: %v", err)
	}
	if _, err := s.Ping(); err != nil {
		return "", fmt.Errorf("ping after the reset: %v", err)
	}
	return "Stream.ResetWithError(42) mid-transfer (echo blocked on our window); our writer failed, next stream echoed, ping answered", nil
}
