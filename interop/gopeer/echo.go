package main

// --serve-echo: a yamux echo peer on a Go yamux library (--lib) with the
// same command line as libyamux's examples/echo. It is the known-good stand-in the
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
	libName := fs.String("lib", "hashicorp", "Go yamux library: hashicorp|goyamux")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// A write to a peer that went away must be an error, not a death by
	// SIGPIPE (Go's default for fd 1).
	signal.Ignore(syscall.SIGPIPE)
	lib := libs[*libName]
	if lib == nil {
		fmt.Fprintln(os.Stderr, "echo: --lib must be hashicorp or goyamux")
		return 2
	}
	cfg := &MuxConfig{KeepAlive: -1}
	if *keepalive > 0 {
		cfg.KeepAlive = 1
		cfg.KeepAliveInterval = time.Duration(*keepalive) * time.Millisecond
	}
	run := func(conn io.ReadWriteCloser) error {
		var s Session
		var err error
		if *client {
			s, err = lib.Client(conn, cfg)
		} else {
			s, err = lib.Server(conn, cfg)
		}
		if err != nil {
			return err
		}
		for {
			st, err := s.Accept()
			if err != nil {
				s.Close()
				// A normal end: EOF, or the peer's Go Away (go-yamux ends
				// the session when one arrives).
				if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "closed") ||
					strings.Contains(err.Error(), "shutdown") ||
					strings.Contains(err.Error(), "go away") {
					return nil
				}
				return err
			}
			go func() {
				// Echo until the peer's FIN, then half-close; a reset makes
				// both Read and Write fail and we just drop the stream.
				if _, err := io.Copy(st, st); err == nil {
					st.CloseWrite()
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
