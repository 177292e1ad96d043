package main

// --serve-echo: a yamux echo peer on hashicorp/yamux with the same command
// line as libyamux's examples/echo. It is the known-good stand-in the
// scenarios are checked against before they judge libyamux.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"
)

type stdio struct{}

func (stdio) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdio) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
func (stdio) Close() error {
	os.Stdout.Close()
	return os.Stdin.Close()
}

func serveEcho(args []string) int {
	fs := flag.NewFlagSet("serve-echo", flag.ContinueOnError)
	client := fs.Bool("client", false, "yamux client role")
	fs.Bool("server", true, "yamux server role (default)")
	fs.Bool("stdio", true, "session over stdin/stdout (default)")
	listen := fs.String("listen", "", "serve TCP connections on HOST:PORT, one at a time")
	connect := fs.String("connect", "", "connect to HOST:PORT")
	keepalive := fs.Int("keepalive", 0, "keepalive interval in ms (0: off)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// A write to a peer that went away must be an error, not a death by
	// SIGPIPE (Go's default for fd 1).
	signal.Ignore(syscall.SIGPIPE)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.EnableKeepAlive = *keepalive > 0
	if *keepalive > 0 {
		cfg.KeepAliveInterval = time.Duration(*keepalive) * time.Millisecond
	}
	run := func(conn io.ReadWriteCloser) error {
		var s *yamux.Session
		var err error
		if *client {
			s, err = yamux.Client(conn, cfg)
		} else {
			s, err = yamux.Server(conn, cfg)
		}
		if err != nil {
			return err
		}
		for {
			st, err := s.AcceptStream()
			if err != nil {
				s.Close()
				if errors.Is(err, io.EOF) || errors.Is(err, yamux.ErrSessionShutdown) ||
					strings.Contains(err.Error(), "closed") {
					return nil
				}
				return err
			}
			go func() {
				// Echo until the peer's FIN, then half-close; a reset makes
				// both Read and Write fail and we just drop the stream.
				if _, err := io.Copy(st, st); err == nil {
					st.Close()
				}
			}()
		}
	}
	var err error
	switch {
	case *listen != "":
		var l net.Listener
		l, err = net.Listen("tcp", *listen)
		if err != nil {
			break
		}
		for {
			c, aerr := l.Accept()
			if aerr != nil {
				err = aerr
				break
			}
			if rerr := run(c); rerr != nil {
				fmt.Fprintf(os.Stderr, "echo: session: %v\n", rerr)
			}
		}
	case *connect != "":
		var c net.Conn
		c, err = net.Dial("tcp", *connect)
		if err == nil {
			err = run(c)
		}
	default:
		err = run(stdio{})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		return 1
	}
	return 0
}
