package main

// Scenarios where libyamux opens the streams: --cmd runs the C driver
// (interop/c/yxdrive, built by mk/interop.mk), which gets "--scenario NAME"
// and checks its own side; the functions here play the Go side and check
// what the Go library saw. Selected with --scenario cdrive.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// cmsg is what yxdrive writes on its small streams (with the C string's NUL).
var cmsg = []byte("message from yxdrive\x00")

func cdriveScenarios() []Scenario {
	arg := func(name string) func(p *Peer) string {
		return func(p *Peer) string { return "--scenario " + name }
	}
	return []Scenario{
		{name: "c_open_many", cdrive: true, extra: arg("open_many"), run: cOpenMany},
		{name: "c_unacked_limit", cdrive: true, extra: arg("unacked_limit"), run: cUnacked},
		{name: "c_backlog", cdrive: true, extra: arg("backlog"), run: cBacklog},
		{name: "c_goaway", cdrive: true, extra: arg("goaway"), run: cGoaway},
		{name: "c_close_open", cdrive: true, extra: arg("close_open"), run: cCloseOpen},
		{name: "c_big_window", cdrive: true, extra: arg("big_window"), run: cBigWindow},
		{name: "c_ping", cdrive: true, extra: arg("ping"), run: cPing},
		{name: "c_reset_code", cdrive: true, run: cResetCode,
			extra: func(p *Peer) string {
				if p.lib.HasReset() {
					return "--scenario reset_code --peer-reset 9"
				}
				return "--scenario reset_code"
			}},
	}
}

// echoAll accepts every stream (after delay) and echoes it until the
// session ends; ended gets the Accept error then. resets counts streams
// whose echo ended with a reset or a session error rather than EOF.
type echoAll struct {
	accepted atomic.Int64
	clean    atomic.Int64
	broken   atomic.Int64
	ended    chan error
	wg       sync.WaitGroup
}

func startEchoAll(s Session, delay time.Duration) *echoAll {
	ea := &echoAll{ended: make(chan error, 1)}
	go func() {
		time.Sleep(delay)
		for {
			st, err := s.Accept()
			if err != nil {
				ea.wg.Wait()
				ea.ended <- err
				return
			}
			ea.accepted.Add(1)
			ea.wg.Add(1)
			go func() {
				defer ea.wg.Done()
				if _, err := io.Copy(st, st); err == nil {
					st.CloseWrite()
					ea.clean.Add(1)
				} else {
					ea.broken.Add(1)
				}
			}()
		}
	}()
	return ea
}

// wait waits for the session to end (the C side closes it).
func (ea *echoAll) wait(e *Env) error {
	select {
	case <-ea.ended:
		return nil
	case <-time.After(e.p.timeout - 5*time.Second):
		return errors.New("the C side never ended the session")
	}
}

func cOpenMany(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	ea := startEchoAll(s, 0)
	if err := ea.wait(e); err != nil {
		return "", err
	}
	if n := ea.accepted.Load(); n != 500 || ea.clean.Load() != 500 {
		return "", fmt.Errorf("accepted %d streams, %d echoed to EOF; want 500",
			n, ea.clean.Load())
	}
	return "500 streams opened by libyamux at once, echoed", nil
}

func cUnacked(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	// The library ACKs on Accept: nothing is ACKed for 1 s, and its
	// backlog (256) refuses any SYN beyond it.
	ea := startEchoAll(s, time.Second)
	if err := ea.wait(e); err != nil {
		return "", err
	}
	if n := ea.accepted.Load(); n != 300 || ea.clean.Load() != 300 {
		return "", fmt.Errorf("accepted %d streams, %d echoed; want 300", n,
			ea.clean.Load())
	}
	return "300 opens while we accepted nothing for 1 s (our backlog 256): none refused, all accepted and echoed", nil
}

func cBacklog(e *Env) (string, error) {
	cfg := e.config()
	cfg.AcceptBacklog = 512 // our un-ACKed opens may exceed 256
	s, err := e.session(cfg)
	if err != nil {
		return "", err
	}
	defer s.Close()
	const n = 300
	var reset, echoed, other atomic.Int64
	var firstOther atomic.Value
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		st, err := s.Open()
		if err != nil {
			return "", fmt.Errorf("open #%d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.SetDeadline(time.Now().Add(20 * time.Second))
			_, werr := st.Write(cmsg)
			if werr == nil {
				werr = st.CloseWrite()
			}
			got, rerr := io.ReadAll(st)
			switch {
			case e.p.lib.IsReset(rerr) || e.p.lib.IsReset(werr):
				reset.Add(1)
			case werr == nil && rerr == nil && bytes.Equal(got, cmsg):
				echoed.Add(1)
			default:
				other.Add(1)
				firstOther.CompareAndSwap(nil, fmt.Sprintf("stream %d: write %v, read %v, %d bytes",
					st.StreamID(), werr, rerr, len(got)))
			}
		}()
	}
	wg.Wait()
	d := fmt.Sprintf("%d opens while libyamux did not accept: %d refused (RST), %d echoed after it accepted",
		n, reset.Load(), echoed.Load())
	if other.Load() > 0 {
		return "", fmt.Errorf("%s, %d other: %v", d, other.Load(), firstOther.Load())
	}
	if reset.Load() != n-256 || echoed.Load() != 256 {
		return "", fmt.Errorf("%s; want %d refused and 256 echoed", d, n-256)
	}
	return d, nil
}

func cGoaway(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	gy := e.p.lib.HasReset() // go-yamux: Go Away ends its session
	a, err := s.Accept()
	if err != nil {
		if gy && s.IsClosed() {
			return "go-yamux ended its session on our Go Away(0) before stream A was accepted (its documented behaviour)", nil
		}
		return "", fmt.Errorf("accept: %v", err)
	}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	data, rerr := io.ReadAll(a)
	time.Sleep(100 * time.Millisecond)
	st, oerr := s.Open()
	open := ""
	switch {
	case oerr != nil:
		open = fmt.Sprintf("our new open failed: %v", oerr)
	default:
		st.SetDeadline(time.Now().Add(5 * time.Second))
		st.Write([]byte("x"))
		_, err := io.ReadAll(st)
		if !e.p.lib.IsReset(err) {
			return "", fmt.Errorf("a stream we opened after libyamux's Go Away was not refused: read %v", err)
		}
		open = "our new open was refused (RST)"
	}
	if gy {
		time.Sleep(100 * time.Millisecond)
		if !s.IsClosed() {
			return "", fmt.Errorf("go-yamux session still open after Go Away(0) (read %v)", rerr)
		}
		return "go-yamux ended its session on our Go Away(0); " + open, nil
	}
	if rerr != nil || !bytes.Equal(data, cmsg) {
		return "", fmt.Errorf("stream A after Go Away: read %v, %d bytes", rerr, len(data))
	}
	if _, err := a.Write(data); err != nil {
		return "", fmt.Errorf("echo on A after Go Away: %v", err)
	}
	a.CloseWrite()
	if _, err := s.Accept(); err == nil {
		return "", errors.New("accepted a second stream after libyamux's Go Away")
	}
	return "stream A went on after libyamux's Go Away(0); " + open, nil
}

func cCloseOpen(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	ea := startEchoAll(s, 0)
	if err := ea.wait(e); err != nil {
		return "", err
	}
	if n := ea.accepted.Load(); n != 16 {
		return "", fmt.Errorf("accepted %d streams, want 16", n)
	}
	return fmt.Sprintf("libyamux closed the session with 16 streams mid-transfer: our echoes ended %d by EOF, %d by error",
		ea.clean.Load(), ea.broken.Load()), nil
}

func cResetCode(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	a, err := s.Accept()
	if err != nil {
		return "", fmt.Errorf("accept: %v", err)
	}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len(cmsg))
	if _, err := io.ReadFull(a, buf); err != nil {
		return "", fmt.Errorf("read: %v", err)
	}
	if _, err := a.Write(buf); err != nil {
		return "", fmt.Errorf("write: %v", err)
	}
	_, rerr := a.Read(buf)
	if !e.p.lib.IsReset(rerr) {
		return "", fmt.Errorf("after libyamux's reset: read %v, want a reset", rerr)
	}
	d := "libyamux's RST seen"
	if e.p.lib.HasReset() {
		code, ok := e.p.lib.ResetCode(rerr)
		if !ok || code != 7 {
			return "", fmt.Errorf("reset code %d (carried %v), want 7", code, ok)
		}
		d += " with code 7"
		b, err := s.Open()
		if err != nil {
			return "", fmt.Errorf("open: %v", err)
		}
		b.Write([]byte("x"))
		time.Sleep(300 * time.Millisecond)
		b.Reset(9)
		time.Sleep(300 * time.Millisecond)
		d += "; our ResetWithError(9) sent (libyamux checks the code)"
	} else {
		d += " (hashicorp carries no code)"
	}
	return d, nil
}

// cBigWindow: libyamux announces a 16 MiB window on its SYN and leaves 4 MiB
// of echo unread for 500 ms; it checks that more than 256 KiB arrived.
func cBigWindow(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	ea := startEchoAll(s, 0)
	if err := ea.wait(e); err != nil {
		return "", err
	}
	if ea.accepted.Load() != 1 || ea.clean.Load() != 1 {
		return "", fmt.Errorf("accepted %d, echoed %d; want 1", ea.accepted.Load(),
			ea.clean.Load())
	}
	return "echoed 4 MiB into libyamux's 16 MiB window (announced on its SYN)", nil
}

// cPing: libyamux pings 20 times; the library answers.
func cPing(e *Env) (string, error) {
	s, err := e.session(e.config())
	if err != nil {
		return "", err
	}
	defer s.Close()
	ea := startEchoAll(s, 0)
	if err := ea.wait(e); err != nil {
		return "", err
	}
	return "answered libyamux's pings", nil
}
