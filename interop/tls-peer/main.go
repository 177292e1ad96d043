// tls-peer (Go): one end of a yamux session over TLS on TCP, the way Consul
// and Nomad run their RPC: crypto/tls (mutual TLS when asked) with
// hashicorp/yamux on top. It takes the flags of the C end, test/integration/tls/peer.c,
// so that test/integration/test-tls.c can put either program on either side:
//
//	tls-peer (--listen PORT | --connect PORT) [--tls-role client|server]
//	         [--yamux-role client|server] [--cert F] [--key F] [--ca F]
//	         [--servername N] [--no-verify] [--require-client-cert]
//	         [--bytes N] [--streams N] [--size N] [--timeout D]
//	         echo|bulk|streams|w1|sink
//
// The modes and the byte pattern are the C end's (see its header). Exit
// status: 0 done, 3 the TLS layer failed ("TLS error: ..." on stderr), 1
// anything else.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

const chunk = 65536

var (
	listen     = flag.String("listen", "", "listen on 127.0.0.1:PORT (0: any), serve one connection")
	connect    = flag.String("connect", "", "connect to 127.0.0.1:PORT")
	tlsRole    = flag.String("tls-role", "", "client or server (default: --connect is the client)")
	yamuxRole  = flag.String("yamux-role", "", "client or server (default: the TLS role)")
	certFile   = flag.String("cert", "", "our certificate (PEM)")
	keyFile    = flag.String("key", "", "its key (PEM; default: in --cert)")
	caFile     = flag.String("ca", "", "CA certificates for the peer (PEM)")
	serverName = flag.String("servername", "", "the server's name (client)")
	noVerify   = flag.Bool("no-verify", false, "accept any certificate")
	requireCli = flag.Bool("require-client-cert", false, "server: mutual TLS")
	nbytes     = flag.Int64("bytes", 64<<20, "bulk, w1, sink: bytes")
	nstreams   = flag.Int("streams", 500, "streams: how many")
	size       = flag.Int64("size", 65536, "streams: bytes per stream")
	timeout    = flag.Duration("timeout", 120*time.Second, "give up after this long")
)

// recConn remembers the first read error of the TLS connection: after a
// handshake that looked fine to a TLS 1.3 client, the server's verdict on our
// certificate arrives as an alert on the first read, inside yamux's receive
// loop, and yamux only says the session closed.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	err error
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *recConn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

var conn *recConn

func isTLSError(err error) bool {
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &rh) ||
		strings.Contains(err.Error(), "tls:")
}

// fail ends the process: a TLS error of the connection wins over the yamux
// error it caused.
func fail(format string, args ...interface{}) {
	if conn != nil {
		if err := conn.readErr(); err != nil && isTLSError(err) {
			tlsFail(err)
		}
	}
	fmt.Fprintf(os.Stderr, "tls-peer: "+format+"\n", args...)
	os.Exit(1)
}

func tlsFail(err error) {
	fmt.Fprintf(os.Stderr, "TLS error: %v\n", err)
	os.Exit(3)
}

// ---- pattern (the C end's: xorshift64* from seed i+1) ---------------------

type gen struct {
	state uint64
	word  [8]byte
	used  int
}

func newGen(seed uint64) *gen {
	return &gen{state: seed*0x9e3779b97f4a7c15 + 1, used: 8}
}

func (g *gen) fill(out []byte) {
	for i := range out {
		if g.used == 8 {
			g.state ^= g.state >> 12
			g.state ^= g.state << 25
			g.state ^= g.state >> 27
			x := g.state * 0x2545f4914f6cdd1d
			for j := 0; j < 8; j++ {
				g.word[j] = byte(x >> (8 * j))
			}
			g.used = 0
		}
		out[i] = g.word[g.used]
		g.used++
	}
}

// ---- TLS -------------------------------------------------------------------

func tlsConfig(server bool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: *serverName}
	if *certFile != "" {
		key := *keyFile
		if key == "" {
			key = *certFile
		}
		c, err := tls.LoadX509KeyPair(*certFile, key)
		if err != nil {
			fail("%v", err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	var pool *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fail("%v", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fail("%s: no certificate", *caFile)
		}
	}
	if server {
		cfg.ClientCAs = pool
		switch {
		case *requireCli && *noVerify:
			cfg.ClientAuth = tls.RequireAnyClientCert
		case *requireCli:
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	} else {
		cfg.RootCAs = pool
		cfg.InsecureSkipVerify = *noVerify
	}
	return cfg
}

// ---- modes -----------------------------------------------------------------

func echo(sess *yamux.Session) {
	var wg sync.WaitGroup
	for {
		st, err := sess.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(st, st)
			st.Close() // FIN after the peer's
		}()
	}
	wg.Wait()
	// The session ended: cleanly if the peer closed the connection.
	if err := conn.readErr(); err != nil && err != io.EOF {
		fail("session ended: %v", err)
	}
}

func sink(sess *yamux.Session) {
	st, err := sess.Accept()
	if err != nil {
		fail("accept: %v", err)
	}
	if _, err := io.CopyN(io.Discard, st, *nbytes); err != nil {
		fail("read: %v", err)
	}
	// The client closes the session as soon as it has the ack, which can
	// make this Write report a shutdown although the ack went out: the
	// client is the judge.
	st.Write([]byte{'A'})
	<-sess.CloseChan()
}

func opener(sess *yamux.Session, count int, total int64) {
	var wg sync.WaitGroup
	errs := make(chan error, 2*count)
	for i := 0; i < count; i++ {
		st, err := sess.OpenStream()
		if err != nil {
			fail("open: %v", err)
		}
		wg.Add(2)
		seed := uint64(i + 1)
		go func() {
			defer wg.Done()
			g := newGen(seed)
			buf := make([]byte, chunk)
			for sent := int64(0); sent < total; {
				n := int64(chunk)
				if total-sent < n {
					n = total - sent
				}
				g.fill(buf[:n])
				if _, err := st.Write(buf[:n]); err != nil {
					errs <- fmt.Errorf("stream %d: write: %w", st.StreamID(), err)
					return
				}
				sent += n
			}
			st.Close() // half-close: the echo goes on
		}()
		go func() {
			defer wg.Done()
			g := newGen(seed)
			buf := make([]byte, chunk)
			want := make([]byte, chunk)
			var got int64
			for {
				n, err := st.Read(buf)
				if n > 0 {
					g.fill(want[:n])
					if string(want[:n]) != string(buf[:n]) {
						errs <- fmt.Errorf("stream %d: echo differs near byte %d", st.StreamID(), got)
						return
					}
					got += int64(n)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: read: %w", st.StreamID(), err)
					return
				}
			}
			if got != total {
				errs <- fmt.Errorf("stream %d: EOF after %d of %d bytes", st.StreamID(), got, total)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		fail("%v", err)
	default:
	}
	fmt.Printf("ok %s: %d stream(s), %d bytes each, echo verified\n", flag.Arg(0), count, total)
}

func w1(sess *yamux.Session) {
	st, err := sess.OpenStream()
	if err != nil {
		fail("open: %v", err)
	}
	pattern := make([]byte, chunk)
	for i := range pattern {
		pattern[i] = 'x'
	}
	var ack [1]byte
	t0 := time.Now()
	for sent := int64(0); sent < *nbytes; {
		n := int64(chunk)
		if *nbytes-sent < n {
			n = *nbytes - sent
		}
		if _, err := st.Write(pattern[:n]); err != nil {
			fail("write: %v", err)
		}
		sent += n
	}
	if _, err := io.ReadFull(st, ack[:]); err != nil {
		fail("reading the ack: %v", err)
	}
	secs := time.Since(t0).Seconds()
	cs := conn.Conn.(*tls.Conn).ConnectionState()
	fmt.Printf("RESULT impl=hashicorp-tls w=W1 transport=tcp+tls size=%d chunk=%d secs=%.6f mibps=%.1f tls=%s cipher=%s\n",
		*nbytes, chunk, secs, float64(*nbytes)/secs/(1<<20),
		tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite))
}

func main() {
	flag.Parse()
	mode := flag.Arg(0)
	switch mode {
	case "echo", "bulk", "streams", "w1", "sink":
	default:
		fmt.Fprintln(os.Stderr, "tls-peer: MODE is echo, bulk, streams, w1 or sink")
		os.Exit(2)
	}
	if (*listen == "") == (*connect == "") {
		fmt.Fprintln(os.Stderr, "tls-peer: give --listen or --connect")
		os.Exit(2)
	}
	isClient := *connect != ""
	if *tlsRole != "" {
		isClient = *tlsRole == "client"
	}
	yamuxClient := isClient
	if *yamuxRole != "" {
		yamuxClient = *yamuxRole == "client"
	}
	time.AfterFunc(*timeout, func() { fail("timed out after %v", *timeout) })

	var raw net.Conn
	var err error
	if *listen != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+*listen)
		if err != nil {
			fail("listen: %v", err)
		}
		fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
		raw, err = ln.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		ln.Close()
	} else {
		raw, err = net.Dial("tcp", "127.0.0.1:"+*connect)
		if err != nil {
			fail("connect: %v", err)
		}
	}
	var tc *tls.Conn
	if isClient {
		tc = tls.Client(raw, tlsConfig(false))
	} else {
		tc = tls.Server(raw, tlsConfig(true))
	}
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		tlsFail(err)
	}
	tc.SetDeadline(time.Time{})
	conn = &recConn{Conn: tc}

	cfg := yamux.DefaultConfig()
	var sess *yamux.Session
	if yamuxClient {
		sess, err = yamux.Client(conn, cfg)
	} else {
		sess, err = yamux.Server(conn, cfg)
	}
	if err != nil {
		fail("yamux: %v", err)
	}
	switch mode {
	case "echo":
		echo(sess)
	case "sink":
		sink(sess)
	case "bulk":
		opener(sess, 1, *nbytes)
	case "streams":
		opener(sess, *nstreams, *size)
	case "w1":
		w1(sess)
	}
	sess.Close()
}
