package main

// The yamux library under test, behind a small interface so that every
// scenario runs unchanged on hashicorp/yamux and on libp2p/go-yamux (a fork
// with a near-identical API). --lib picks one.

import (
	"errors"
	"io"
	"net"
	"runtime/debug"
	"time"
)

// MuxConfig is what scenarios may set; zero values keep the library's
// defaults.
type MuxConfig struct {
	Verbose           bool
	KeepAlive         int // 0: the library's default, > 0 on, < 0 off
	KeepAliveInterval time.Duration
	WriteTimeout      time.Duration // ConnectionWriteTimeout
	Window            uint32        // our receive window, announced on SYN/ACK
	AcceptBacklog     int           // also caps our un-ACKed opens (both libs)
}

// Session is a yamux session of either library.
type Session interface {
	Open() (Stream, error)
	Accept() (Stream, error)
	Ping() (time.Duration, error)
	GoAway() error
	Close() error
	IsClosed() bool
}

// Stream is a yamux stream of either library.
type Stream interface {
	io.ReadWriter
	StreamID() uint32
	// CloseWrite sends FIN; reading goes on (hashicorp's Stream.Close).
	CloseWrite() error
	SetDeadline(t time.Time) error
	// Reset sends RST with code (errNoReset if the library cannot).
	Reset(code uint32) error
}

// Lib is one library.
type Lib interface {
	Name() string
	Version() string
	Client(c io.ReadWriteCloser, cfg *MuxConfig) (Session, error)
	Server(c io.ReadWriteCloser, cfg *MuxConfig) (Session, error)
	HasReset() bool
	IsReset(err error) bool             // the stream was reset by the peer
	IsTimeout(err error) bool           // a deadline passed
	ResetCode(err error) (uint32, bool) // the peer's RST code, if carried
}

var errNoReset = errors.New("this library has no Stream.Reset")

var libs = map[string]Lib{
	"hashicorp": hashicorpLib{},
	"goyamux":   goyamuxLib{},
}

func modVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

// netConn gives an io.ReadWriteCloser the net.Conn methods go-yamux wants.
// Deadlines are accepted and ignored: go-yamux only sets write deadlines as
// a safety valve, and our transports are pipes or loopback TCP.
type netConn struct{ io.ReadWriteCloser }

type nullAddr struct{}

func (nullAddr) Network() string { return "interop" }
func (nullAddr) String() string  { return "interop" }

func (netConn) LocalAddr() net.Addr                { return nullAddr{} }
func (netConn) RemoteAddr() net.Addr               { return nullAddr{} }
func (netConn) SetDeadline(t time.Time) error      { return nil }
func (netConn) SetReadDeadline(t time.Time) error  { return nil }
func (netConn) SetWriteDeadline(t time.Time) error { return nil }
