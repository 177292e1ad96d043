package main

// Transports: a child's stdin/stdout, a TCP connection we dial, or one we
// accept. Each scenario gets a fresh transport (and a fresh child when we
// spawn one), so a scenario that ends the session cannot spoil the next.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a spawned peer program.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	state  *os.ProcessState
	err    error
}

type lockedWriter struct {
	p    *Proc
	tee  io.Writer
	name string
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.stderr.Write(b)
	w.p.mu.Unlock()
	if w.tee != nil {
		w.tee.Write(b)
	}
	return len(b), nil
}

func spawn(cmdline string, verbose bool) (*Proc, io.ReadCloser, io.WriteCloser,
	error) {
	p := &Proc{done: make(chan struct{})}
	// exec: the shell becomes the program, so signals and exit status are
	// the program's own.
	p.cmd = exec.Command("/bin/sh", "-c", "exec "+cmdline)
	var tee io.Writer
	if verbose {
		tee = os.Stderr
	}
	p.cmd.Stderr = &lockedWriter{p: p, tee: tee}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return p, stdout, stdin, nil
}

// reap waits for the child in the background; call once, after its stdout
// was drained (exec.Cmd.Wait closes the pipe).
func (p *Proc) reap() {
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.state = p.cmd.ProcessState
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
}

func (p *Proc) exited(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (p *Proc) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		if !p.exited(2 * time.Second) {
			p.cmd.Process.Kill()
		}
	}
}

func (p *Proc) stderrLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// exitDesc describes how the child ended: "exit=0", "exit=1", "signal=...".
func (p *Proc) exitDesc() (code int, signaled bool, desc string) {
	p.mu.Lock()
	st := p.state
	p.mu.Unlock()
	if st == nil {
		return -1, false, "running"
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, true, "signal=" + ws.Signal().String()
	}
	return st.ExitCode(), false, fmt.Sprintf("exit=%d", st.ExitCode())
}

// Conn is the byte transport a session (or a raw-frame scenario) runs on.
// Reads go through a pipe fed by a copier goroutine so that Close can
// unblock a pending Read at once while the real transport is still drained
// in the background: the peer can then flush its Go Away and exit on EOF
// instead of writing into a closed pipe (unless abrupt is set).
type Conn struct {
	pr         *io.PipeReader
	w          io.Writer
	closeWrite func() error
	closeAll   func() error
	abrupt     bool
	proc       *Proc
	once       sync.Once
	drained    chan struct{}
	listenMode bool // the child is a --listen server: it never exits alone
}

// traceFiles is set by --trace: every transport's bytes are copied to
// PREFIX.N.tx (what we sent) and PREFIX.N.rx (what we received).
var traceFiles string
var traceSeq int

type syncFile struct {
	mu sync.Mutex
	f  *os.File
}

func (s *syncFile) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Write(b)
}

func newConn(r io.Reader, w io.Writer, closeWrite, closeAll func() error,
	proc *Proc) *Conn {
	if traceFiles != "" {
		traceSeq++
		tx, err1 := os.Create(fmt.Sprintf("%s.%d.tx", traceFiles, traceSeq))
		rx, err2 := os.Create(fmt.Sprintf("%s.%d.rx", traceFiles, traceSeq))
		if err1 == nil && err2 == nil {
			w = io.MultiWriter(&syncFile{f: tx}, w)
			r = io.TeeReader(r, rx)
		}
	}
	pr, pw := io.Pipe()
	c := &Conn{pr: pr, w: w, closeWrite: closeWrite, closeAll: closeAll,
		proc: proc, drained: make(chan struct{})}
	go func() {
		defer close(c.drained)
		buf := make([]byte, 256*1024)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := pw.Write(buf[:n]); werr != nil {
					// The session side is closed: keep draining so the peer
					// never blocks or gets EPIPE on its way out.
					io.Copy(io.Discard, r)
					return
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

func (c *Conn) Read(b []byte) (int, error)  { return c.pr.Read(b) }
func (c *Conn) Write(b []byte) (int, error) { return c.w.Write(b) }

// CloseWrite half-closes: the peer reads EOF, we can still read.
func (c *Conn) CloseWrite() error { return c.closeWrite() }

// Close ends our use of the transport. Graceful (default): half-close, then
// drain whatever the peer still sends until it closes (at most 10 s).
// Abrupt: close both directions now, as hashicorp's Session.Close does with
// a net.Conn.
func (c *Conn) Close() error {
	c.once.Do(func() {
		c.pr.CloseWithError(io.ErrClosedPipe)
		if c.abrupt {
			c.closeAll()
			return
		}
		c.closeWrite()
		go func() {
			select {
			case <-c.drained:
			case <-time.After(10 * time.Second):
			}
			c.closeAll()
		}()
	})
	return nil
}

// Dial opens the transport for one scenario. extra is appended to the
// spawned command line.
func (p *Peer) Dial(extra string) (*Conn, error) {
	cmdline := p.cmd
	if extra != "" {
		cmdline += " " + extra
	}
	switch p.transport {
	case "stdio-spawn":
		if p.cmd == "" {
			return nil, errors.New("stdio-spawn needs --cmd")
		}
		proc, stdout, stdin, err := spawn(cmdline, p.verbose)
		if err != nil {
			return nil, err
		}
		var once sync.Once
		c := newConn(stdout, stdin, stdin.Close, func() error {
			stdin.Close()
			stdout.Close()
			once.Do(proc.reap)
			return nil
		}, proc)
		// Reap the child once its stdout reached EOF (Wait closes the pipe,
		// so it must not run earlier).
		go func() { <-c.drained; once.Do(proc.reap) }()
		return c, nil

	case "tcp-connect":
		addr := p.addr
		var proc *Proc
		if p.cmd != "" {
			if strings.HasSuffix(addr, ":0") {
				a, err := freePort(addr)
				if err != nil {
					return nil, err
				}
				addr = a
			}
			var stdout io.ReadCloser
			var stdin io.WriteCloser
			var err error
			proc, stdout, stdin, err = spawn(strings.ReplaceAll(cmdline, "{addr}",
				addr), p.verbose)
			if err != nil {
				return nil, err
			}
			stdin.Close()
			go func() { io.Copy(io.Discard, stdout); proc.reap() }()
		}
		var conn net.Conn
		var err error
		deadline := time.Now().Add(10 * time.Second)
		for {
			conn, err = net.Dial("tcp", addr)
			if err == nil || time.Now().After(deadline) {
				break
			}
			if proc != nil && proc.exited(0) {
				_, _, d := proc.exitDesc()
				return nil, fmt.Errorf("listener died before accepting (%s: %s)",
					d, strings.Join(proc.stderrLines(), " | "))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			if proc != nil {
				proc.kill()
			}
			return nil, err
		}
		tc := conn.(*net.TCPConn)
		tc.SetNoDelay(true)
		c := newConn(tc, tc, tc.CloseWrite, tc.Close, proc)
		c.listenMode = proc != nil
		return c, nil

	case "tcp-listen":
		if p.listener == nil {
			l, err := net.Listen("tcp", p.addr)
			if err != nil {
				return nil, err
			}
			p.listener = l.(*net.TCPListener)
		}
		var proc *Proc
		if p.cmd != "" {
			var stdout io.ReadCloser
			var stdin io.WriteCloser
			var err error
			proc, stdout, stdin, err = spawn(strings.ReplaceAll(cmdline, "{addr}",
				p.listener.Addr().String()), p.verbose)
			if err != nil {
				return nil, err
			}
			stdin.Close()
			go func() { io.Copy(io.Discard, stdout); proc.reap() }()
		}
		p.listener.SetDeadline(time.Now().Add(10 * time.Second))
		conn, err := p.listener.AcceptTCP()
		if err != nil {
			if proc != nil {
				proc.kill()
			}
			return nil, err
		}
		conn.SetNoDelay(true)
		return newConn(conn, conn, conn.CloseWrite, conn.Close, proc), nil
	}
	return nil, fmt.Errorf("unknown transport %q", p.transport)
}

func freePort(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	a := l.Addr().String()
	l.Close()
	return a, nil
}
