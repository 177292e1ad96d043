package main

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	yamux "github.com/libp2p/go-yamux/v5"
)

type goyamuxLib struct{}

func (goyamuxLib) Name() string    { return "libp2p/go-yamux" }
func (goyamuxLib) Version() string { return modVersion("github.com/libp2p/go-yamux/v5") }
func (goyamuxLib) HasReset() bool  { return true }

func (goyamuxLib) config(c *MuxConfig) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	if c.Verbose {
		cfg.LogOutput = os.Stderr
	}
	if c.KeepAlive != 0 {
		cfg.EnableKeepAlive = c.KeepAlive > 0
	}
	if c.KeepAliveInterval > 0 {
		cfg.KeepAliveInterval = c.KeepAliveInterval
	}
	if c.WriteTimeout > 0 {
		cfg.ConnectionWriteTimeout = c.WriteTimeout
	}
	if c.Window > 0 {
		// go-yamux announces InitialStreamWindowSize on SYN/ACK and may
		// grow the window up to MaxStreamWindowSize on its own.
		cfg.InitialStreamWindowSize = c.Window
		if cfg.MaxStreamWindowSize < c.Window {
			cfg.MaxStreamWindowSize = c.Window
		}
	}
	if c.AcceptBacklog > 0 {
		cfg.AcceptBacklog = c.AcceptBacklog
		if uint32(c.AcceptBacklog) > cfg.MaxIncomingStreams {
			cfg.MaxIncomingStreams = uint32(c.AcceptBacklog)
		}
	}
	return cfg
}

func (l goyamuxLib) Client(c io.ReadWriteCloser, cfg *MuxConfig) (Session,
	error) {
	s, err := yamux.Client(netConn{c}, l.config(cfg), nil)
	if err != nil {
		return nil, err
	}
	return gySession{s}, nil
}

func (l goyamuxLib) Server(c io.ReadWriteCloser, cfg *MuxConfig) (Session,
	error) {
	s, err := yamux.Server(netConn{c}, l.config(cfg), nil)
	if err != nil {
		return nil, err
	}
	return gySession{s}, nil
}

func (goyamuxLib) IsReset(err error) bool {
	return errors.Is(err, yamux.ErrStreamReset)
}

func (goyamuxLib) IsTimeout(err error) bool {
	return errors.Is(err, yamux.ErrTimeout)
}

func (goyamuxLib) ResetCode(err error) (uint32, bool) {
	var se *yamux.StreamError
	if errors.As(err, &se) && se.Remote {
		return se.ErrorCode, true
	}
	return 0, false
}

type gySession struct{ s *yamux.Session }

func (g gySession) Open() (Stream, error) {
	st, err := g.s.OpenStream(context.Background())
	if err != nil {
		return nil, err
	}
	return gyStream{st}, nil
}

func (g gySession) Accept() (Stream, error) {
	st, err := g.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return gyStream{st}, nil
}

func (g gySession) Ping() (time.Duration, error) { return g.s.Ping() }
func (g gySession) GoAway() error                { return g.s.GoAway() }
func (g gySession) Close() error                 { return g.s.Close() }
func (g gySession) IsClosed() bool               { return g.s.IsClosed() }

type gyStream struct{ *yamux.Stream }

func (g gyStream) Reset(code uint32) error { return g.Stream.ResetWithError(code) }
