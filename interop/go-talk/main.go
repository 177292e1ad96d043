// go-talk: the Go side of examples/go-talk.c, a program built on
// hashicorp/yamux that a C program runs as its child and talks to over the
// child's stdin/stdout (the go-plugin arrangement: the C program is the
// host, the Go program the plugin).
//
// It runs a yamux server session on its stdin/stdout and:
//   - opens a stream to the C side at once and says hello on it;
//   - serves every stream the C side opens: the request is everything up to
//     the C side's FIN, its first line names the command:
//     "upper\n<text>" gets the text in upper case; "hash\n<bytes>" gets
//     "<length> <FNV-1a 64 of the bytes, hex>\n"; "callback N\n" makes us
//     open N streams to the C side, send "ping I\n" on each, half-close,
//     read the answer, then reply "callbacks ok N: <answers>\n";
//   - exits 0 when the C side closes the session (EOF on stdin).
//
// Build (from the repository's top): go build -o interop/bin/go-talk ./interop/go-talk
// Logs go to stderr; stdout belongs to yamux.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/yamux"
)

// stdio joins stdin and stdout into the io.ReadWriteCloser yamux wants.
type stdio struct {
	io.Reader
	io.Writer
}

func (stdio) Close() error {
	os.Stdout.Close()
	return os.Stdin.Close()
}

func main() {
	log.SetPrefix("go-talk (go): ")
	log.SetFlags(0)
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = os.Stderr
	sess, err := yamux.Server(stdio{os.Stdin, os.Stdout}, cfg)
	if err != nil {
		log.Fatal(err)
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // both sides open streams: ours first
		defer wg.Done()
		st, err := sess.OpenStream()
		if err != nil {
			log.Printf("open: %v", err)
			return
		}
		fmt.Fprintf(st, "hello from go (hashicorp/yamux), pid %d\n",
			os.Getpid())
		st.Close() // FIN: hashicorp sends it on an empty Window Update
	}()

	for {
		st, err := sess.AcceptStream()
		if err != nil {
			break // the C side closed the session
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(sess, st)
		}()
	}
	wg.Wait()
	sess.Close()
}

func serve(sess *yamux.Session, st net.Conn) {
	defer st.Close()
	req, err := io.ReadAll(st) // up to the C side's FIN
	if err != nil {
		log.Printf("read: %v", err)
		return
	}
	cmd, body, _ := bytes.Cut(req, []byte("\n"))
	switch {
	case string(cmd) == "upper":
		st.Write(bytes.ToUpper(body))
	case string(cmd) == "hash":
		h := fnv.New64a()
		h.Write(body)
		fmt.Fprintf(st, "%d %016x\n", len(body), h.Sum64())
	case strings.HasPrefix(string(cmd), "callback "):
		n, _ := strconv.Atoi(strings.TrimPrefix(string(cmd), "callback "))
		answers := make([]string, n)
		var cw sync.WaitGroup
		for i := 0; i < n; i++ {
			cw.Add(1)
			go func(i int) { // concurrent opens: SYNs may leave out of order
				defer cw.Done()
				cs, err := sess.OpenStream()
				if err != nil {
					answers[i] = "open: " + err.Error()
					return
				}
				defer cs.Close()
				fmt.Fprintf(cs, "ping %d\n", i)
				cs.Close() // half-close; reading goes on
				line, err := bufio.NewReader(cs).ReadString('\n')
				if err != nil {
					answers[i] = "read: " + err.Error()
					return
				}
				answers[i] = strings.TrimSpace(line)
			}(i)
		}
		cw.Wait()
		fmt.Fprintf(st, "callbacks ok %d: %s\n", n, strings.Join(answers, ", "))
	default:
		fmt.Fprintf(st, "unknown command %q\n", cmd)
	}
}
