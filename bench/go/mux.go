package main

// The implementations behind one interface: a Session opens (client) or
// accepts (server) Streams. For the multiplexers a Session is one yamux/smux
// session over one transport connection; for raw_go every Open is a new TCP
// connection (or the next pipe pair) and every Accept the next one accepted.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	hyamux "github.com/hashicorp/yamux"
	gyamux "github.com/libp2p/go-yamux/v5"
	"github.com/xtaci/smux"
)

// Stream is what every workload uses: Close ends the stream (for yamux a
// FIN), CloseWrite only the sending direction (reads still work).
type Stream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

type Session interface {
	Open() (Stream, error)
	Accept() (Stream, error)
	Close() error
}

// configChanges lists every change from library defaults (printed as
// config=... in the RESULT line). Filled in by newSession.
var configChanges []string

func configString() string {
	if len(configChanges) == 0 {
		return "default"
	}
	return strings.Join(configChanges, ",")
}

// libVersion is the module version of the library linked in.
func libVersion() string {
	mod := map[string]string{
		"hashicorp": "github.com/hashicorp/yamux",
		"goyamux":   "github.com/libp2p/go-yamux/v5",
		"smux":      "github.com/xtaci/smux",
	}[opt.impl]
	if mod == "" {
		return "none"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == mod {
				return d.Version
			}
		}
	}
	return "unknown"
}

func newSession(conn net.Conn, server bool) (Session, error) {
	switch opt.impl {
	case "hashicorp":
		cfg := hyamux.DefaultConfig()
		// Inbound streams beyond AcceptBacklog that the application has not
		// accepted yet are reset. The opener holds at most AcceptBacklog
		// un-ACKed opens and the server ACKs in AcceptStream, so the default
		// (256) is enough for every workload here: no change.
		if opt.w == "W9" { // every session pings once a second
			cfg.KeepAliveInterval = keepaliveW9()
		}
		if opt.window > 0 { // W8's info row: what frp and libp2p set
			cfg.MaxStreamWindowSize = uint32(opt.window)
			configChanges = append(configChanges,
				fmt.Sprintf("MaxStreamWindowSize:%d", opt.window))
		}
		var s *hyamux.Session
		var err error
		if server {
			s, err = hyamux.Server(conn, cfg)
		} else {
			s, err = hyamux.Client(conn, cfg)
		}
		if err != nil {
			return nil, err
		}
		return hSession{s}, nil
	case "goyamux":
		cfg := gyamux.DefaultConfig()
		// More than MaxIncomingStreams (1000) concurrently open inbound
		// streams are reset: W6 (100,000 held open) cannot run with the
		// default, so it is raised to -streams there (it only acts on the
		// accepting side). W3 runs with the default: opens are limited to
		// 256 un-ACKed and each stream lives only for one echo (measured:
		// no resets). -defaults keeps the default to show the failure.
		if opt.w == "W9" {
			cfg.KeepAliveInterval = keepaliveW9()
		}
		if opt.w == "W6" && !opt.defaults &&
			opt.streams > int(cfg.MaxIncomingStreams) {
			cfg.MaxIncomingStreams = uint32(opt.streams)
			configChanges = append(configChanges,
				fmt.Sprintf("MaxIncomingStreams:%d", opt.streams))
		}
		var s *gyamux.Session
		var err error
		if server {
			s, err = gyamux.Server(conn, cfg, nil)
		} else {
			s, err = gyamux.Client(conn, cfg, nil)
		}
		if err != nil {
			return nil, err
		}
		return gSession{s}, nil
	case "smux":
		cfg := smux.DefaultConfig()
		var s *smux.Session
		var err error
		if server {
			s, err = smux.Server(conn, cfg)
		} else {
			s, err = smux.Client(conn, cfg)
		}
		if err != nil {
			return nil, err
		}
		return sSession{s}, nil
	}
	return nil, fmt.Errorf("unknown impl %q", opt.impl)
}

// ---- hashicorp/yamux: Stream.Close is a half close (FIN), reads go on.

type hSession struct{ s *hyamux.Session }
type hStream struct{ *hyamux.Stream }

func (h hStream) CloseWrite() error { return h.Stream.Close() }

func (h hSession) Open() (Stream, error) {
	st, err := h.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return hStream{st}, nil
}

func (h hSession) Accept() (Stream, error) {
	st, err := h.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return hStream{st}, nil
}

func (h hSession) Close() error { return h.s.Close() }

// ---- libp2p/go-yamux: Close = CloseRead (local) + CloseWrite (FIN).

type gSession struct{ s *gyamux.Session }

func (g gSession) Open() (Stream, error) {
	st, err := g.s.OpenStream(context.Background())
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (g gSession) Accept() (Stream, error) {
	st, err := g.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (g gSession) Close() error { return g.s.Close() }

// ---- xtaci/smux (its own wire format).

type sSession struct{ s *smux.Session }

func (x sSession) Open() (Stream, error) {
	st, err := x.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (x sSession) Accept() (Stream, error) {
	st, err := x.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (x sSession) Close() error { return x.s.Close() }

// ---- raw_go over TCP: one connection per Open.

type rawTCPClient struct{ addr string }

func (r rawTCPClient) Open() (Stream, error) {
	c, err := net.Dial("tcp", r.addr) // TCP_NODELAY is Go's default
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (r rawTCPClient) Accept() (Stream, error) {
	return nil, errors.New("raw client does not accept")
}
func (r rawTCPClient) Close() error { return nil }

type rawTCPServer struct{ ln net.Listener }

func (r rawTCPServer) Open() (Stream, error) {
	return nil, errors.New("raw server does not open")
}

func (r rawTCPServer) Accept() (Stream, error) {
	c, err := r.ln.Accept()
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

func (r rawTCPServer) Close() error { return r.ln.Close() }

// ---- raw_go over pipes: the prepared pipe pairs, in order (W2: stdio;
// W7p: stdio for the bulk stream, a second pair for the ping-pong).

type rawPipes struct {
	mu    sync.Mutex
	conns []*pipeConn
}

func (r *rawPipes) next() (Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.conns) == 0 {
		return nil, io.EOF
	}
	c := r.conns[0]
	r.conns = r.conns[1:]
	return c, nil
}

func (r *rawPipes) Open() (Stream, error)   { return r.next() }
func (r *rawPipes) Accept() (Stream, error) { return r.next() }
func (r *rawPipes) Close() error            { return nil }

// pipeConn is a net.Conn over two pipe files opened non-blocking (so that
// reads and writes go through the netpoller and deadlines work).
type pipeConn struct {
	r, w      *os.File
	closeOnce sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) CloseWrite() error           { return p.w.Close() }
func (p *pipeConn) Close() error {
	p.closeOnce.Do(func() {
		p.r.Close()
		p.w.Close()
	})
	return nil
}
func (p *pipeConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr { return pipeAddr{} }
func (p *pipeConn) SetDeadline(t time.Time) error {
	if err := p.r.SetReadDeadline(t); err != nil {
		return err
	}
	return p.w.SetWriteDeadline(t)
}
func (p *pipeConn) SetReadDeadline(t time.Time) error  { return p.r.SetReadDeadline(t) }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { return p.w.SetWriteDeadline(t) }
