package main

import (
	"errors"
	"io"
	"os"
	"time"

	"github.com/hashicorp/yamux"
)

type hashicorpLib struct{}

func (hashicorpLib) Name() string    { return "hashicorp/yamux" }
func (hashicorpLib) Version() string { return modVersion("github.com/hashicorp/yamux") }
func (hashicorpLib) HasReset() bool  { return false }

func (hashicorpLib) config(c *MuxConfig) *yamux.Config {
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
		cfg.MaxStreamWindowSize = c.Window
	}
	if c.AcceptBacklog > 0 {
		cfg.AcceptBacklog = c.AcceptBacklog
	}
	return cfg
}

func (l hashicorpLib) Client(c io.ReadWriteCloser, cfg *MuxConfig) (Session,
	error) {
	s, err := yamux.Client(c, l.config(cfg))
	if err != nil {
		return nil, err
	}
	return hcSession{s}, nil
}

func (l hashicorpLib) Server(c io.ReadWriteCloser, cfg *MuxConfig) (Session,
	error) {
	s, err := yamux.Server(c, l.config(cfg))
	if err != nil {
		return nil, err
	}
	return hcSession{s}, nil
}

func (hashicorpLib) IsReset(err error) bool {
	return errors.Is(err, yamux.ErrConnectionReset)
}

func (hashicorpLib) IsTimeout(err error) bool {
	return errors.Is(err, yamux.ErrTimeout)
}

func (hashicorpLib) ResetCode(err error) (uint32, bool) { return 0, false }

type hcSession struct{ s *yamux.Session }

func (h hcSession) Open() (Stream, error) {
	st, err := h.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return hcStream{st}, nil
}

func (h hcSession) Accept() (Stream, error) {
	st, err := h.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return hcStream{st}, nil
}

func (h hcSession) Ping() (time.Duration, error) { return h.s.Ping() }
func (h hcSession) GoAway() error                { return h.s.GoAway() }
func (h hcSession) Close() error                 { return h.s.Close() }
func (h hcSession) IsClosed() bool               { return h.s.IsClosed() }

type hcStream struct{ *yamux.Stream }

// hashicorp's Close is a half-close.
func (h hcStream) CloseWrite() error       { return h.Stream.Close() }
func (h hcStream) Reset(code uint32) error { return errNoReset }
