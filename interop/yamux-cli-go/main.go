// yamux-cli-go: a stand-in for nwtgck/yamux-cli (Go, v0.5.x) for the
// interop check in interop/yamux-cli-check.sh, used when the real program
// cannot be installed (`go install github.com/nwtgck/yamux-cli@latest` needs
// the module proxy). Written for libyamux from yamux-cli's documented
// behaviour (shared/research/anchors-features.md, section E), not copied:
//
//   - the session runs over stdin/stdout with hashicorp/yamux's default
//     config; the listening side is the yamux client, the dialing side the
//     server;
//   - each stream is copied to and from its connection with 4 KiB buffers,
//     and both are closed only when both directions have finished (a
//     half-close is not propagated);
//   - a failed dial just logs and leaves the stream alone, as yamux-cli does;
//   - UDP: a datagram is a 4-byte big-endian length plus the payload; the
//     listening side opens one stream per source address and never expires
//     it; the dialing side uses one connected UDP socket per stream;
//   - the same flags (-l, -u, -U, --version) and error texts.
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"

	"github.com/hashicorp/yamux"
)

const version = "0.5.3-standin"

type stdio struct{}

func (stdio) Read(p []byte) (int, error)  { return os.Stdin.Read(p) }
func (stdio) Write(p []byte) (int, error) { return os.Stdout.Write(p) }
func (stdio) Close() error                { return nil } // as yamux-cli: a no-op

var listen, udp, unixsock bool

func main() {
	var args []string
	for _, a := range os.Args[1:] {
		switch a {
		case "-l", "--listen":
			listen = true
		case "-u", "--udp":
			udp = true
		case "-U", "--unixsock":
			unixsock = true
		case "-ul", "-lu":
			listen, udp = true, true
		case "-lU", "-Ul":
			listen, unixsock = true, true
		case "--version":
			fmt.Println(version)
			return
		default:
			args = append(args, a)
		}
	}
	if err := run(args); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(255)
	}
}

func run(args []string) error {
	if udp && unixsock {
		return errors.New("unixgram not supported yet")
	}
	if listen {
		if udp {
			host, port, err := hostPort(args)
			if err != nil {
				return err
			}
			return udpListen(net.JoinHostPort(host, port))
		}
		var ln net.Listener
		var err error
		if unixsock {
			if len(args) != 1 {
				return errors.New("unix domain socket is missing")
			}
			ln, err = net.Listen("unix", args[0])
		} else {
			host, port, herr := hostPort(args)
			if herr != nil {
				return herr
			}
			ln, err = net.Listen("tcp", net.JoinHostPort(host, port))
		}
		if err != nil {
			return err
		}
		return client(ln)
	}
	var dial func() (net.Conn, error)
	switch {
	case unixsock:
		if len(args) != 1 {
			return errors.New("Unix-domain socket is missing")
		}
		dial = func() (net.Conn, error) { return net.Dial("unix", args[0]) }
	default:
		if len(args) != 2 {
			return errors.New("host and port number are missing")
		}
		network := "tcp"
		if udp {
			network = "udp"
		}
		addr := net.JoinHostPort(args[0], args[1])
		dial = func() (net.Conn, error) { return net.Dial(network, addr) }
	}
	return server(dial)
}

func hostPort(args []string) (string, string, error) {
	switch len(args) {
	case 2:
		return args[0], args[1], nil
	case 1:
		return "", args[0], nil
	}
	return "", "", errors.New("port number is missing")
}

// copyBoth copies both ways and closes both ends once both directions end.
func copyBoth(a, b io.ReadWriteCloser) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { io.CopyBuffer(a, b, make([]byte, 4096)); wg.Done() }()
	go func() { io.CopyBuffer(b, a, make([]byte, 4096)); wg.Done() }()
	go func() { wg.Wait(); a.Close(); b.Close() }()
}

func server(dial func() (net.Conn, error)) error {
	sess, err := yamux.Server(stdio{}, nil)
	if err != nil {
		return err
	}
	for {
		st, err := sess.Accept()
		if err != nil {
			return err
		}
		conn, err := dial()
		if err != nil {
			log.Printf("failed to dial: %v", err)
			continue
		}
		if udp {
			go udpToStream(conn, st)
			go streamToUDP(st, func(p []byte) error {
				_, err := conn.Write(p)
				return err
			})
			continue
		}
		copyBoth(st, conn)
	}
}

func client(ln net.Listener) error {
	sess, err := yamux.Client(stdio{}, nil)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		st, err := sess.Open()
		if err != nil {
			log.Printf("failed to open: %v", err)
			continue
		}
		copyBoth(st, conn)
	}
}

// udpToStream frames every datagram read from conn onto the stream.
func udpToStream(conn net.Conn, st net.Conn) {
	buf := make([]byte, 4+65536)
	for {
		n, err := conn.Read(buf[4:])
		if err != nil {
			return
		}
		binary.BigEndian.PutUint32(buf, uint32(n))
		if _, err := st.Write(buf[:4+n]); err != nil {
			return
		}
	}
}

// streamToUDP reads framed datagrams from the stream and sends each.
func streamToUDP(st net.Conn, send func([]byte) error) {
	var hdr [4]byte
	buf := make([]byte, 65536)
	for {
		if _, err := io.ReadFull(st, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > uint32(len(buf)) {
			return
		}
		if _, err := io.ReadFull(st, buf[:n]); err != nil {
			return
		}
		if err := send(buf[:n]); err != nil {
			log.Printf("udp write: %v", err)
		}
	}
}

func udpListen(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	sess, err := yamux.Client(stdio{}, nil)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	streams := map[string]net.Conn{} // never expired, as in yamux-cli
	buf := make([]byte, 4+65536)
	for {
		n, from, err := pc.ReadFrom(buf[4:])
		if err != nil {
			return err
		}
		mu.Lock()
		st, ok := streams[from.String()]
		if !ok {
			st, err = sess.Open()
			if err != nil {
				mu.Unlock()
				log.Printf("failed to open: %v", err)
				continue
			}
			streams[from.String()] = st
			peer := from
			go streamToUDP(st, func(p []byte) error {
				_, err := pc.WriteTo(p, peer)
				return err
			})
		}
		mu.Unlock()
		binary.BigEndian.PutUint32(buf, uint32(n))
		if _, err := st.Write(buf[:4+n]); err != nil {
			log.Printf("stream write: %v", err)
		}
	}
}
