package main

// Behaviours of hashicorp/yamux itself that a peer must live with. These
// tests document them (go test -v ./interop/gopeer/); they log what they see
// and fail only if the harness breaks, so a hashicorp release that changes a
// behaviour shows up in the log rather than as a red build.

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

func quietConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	cfg.EnableKeepAlive = false
	return cfg
}

// A Data frame carrying FIN and a body: hashicorp's readData runs
// processFlags (state RemoteClose, readers woken) before it buffers the
// body, so a reader running in between returns io.EOF and the body is lost.
// A peer must send FIN on a frame without a body.
func TestQuirkDataFINBodyLost(t *testing.T) {
	lost := 0
	const iters = 300
	for i := 0; i < iters; i++ {
		a, b := net.Pipe()
		s, _ := yamux.Client(a, quietConfig())
		go io.Copy(io.Discard, b)
		st, _ := s.OpenStream()
		done := make(chan int)
		go func() { d, _ := io.ReadAll(st); done <- len(d) }()
		var w []byte
		w = append(w, header(0, typeWU, flagACK, 1, 0)...)
		w = append(w, header(0, typeData, 0, 1, 65536)...)
		w = append(w, make([]byte, 65536)...)
		w = append(w, header(0, typeData, flagFIN, 1, 20480)...)
		w = append(w, make([]byte, 20480)...)
		b.Write(w)
		if n := <-done; n != 65536+20480 {
			lost++
		}
		s.Close()
		b.Close()
	}
	t.Logf("Data|FIN with a body: EOF before the body in %d of %d runs", lost,
		iters)
}

// Streams opened from several goroutines: ids are taken atomically, SYNs
// are sent later, so they reach the wire out of id order.
func TestQuirkSYNOutOfOrder(t *testing.T) {
	a, b := net.Pipe()
	s, _ := yamux.Client(a, quietConfig())
	defer s.Close()
	var mu sync.Mutex
	var ids []uint32
	go func() {
		h := make([]byte, 12)
		for {
			if _, err := io.ReadFull(b, h); err != nil {
				return
			}
			if h[1] == typeData {
				io.CopyN(io.Discard, b, int64(binary.BigEndian.Uint32(h[8:])))
			}
			if binary.BigEndian.Uint16(h[2:])&flagSYN != 0 {
				id := binary.BigEndian.Uint32(h[4:])
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				// ACK it, so opens never block on the 256 un-ACKed limit.
				b.Write(header(0, typeWU, flagACK, id, 0))
			}
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.OpenStream() }()
	}
	wg.Wait()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	back := 0
	hi := uint32(0)
	for _, id := range ids {
		if id < hi {
			back++
		}
		if id > hi {
			hi = id
		}
	}
	t.Logf("200 concurrent OpenStream: %d of %d SYNs below an id already seen",
		back, len(ids))
}

// A stream whose FIN comes with its SYN (Data|SYN|FIN) is never ACKed: the
// FIN moves it to RemoteClose before Accept, and only SYNReceived sends ACK.
func TestQuirkSYNFINNeverACKed(t *testing.T) {
	a, b := net.Pipe()
	s, _ := yamux.Server(a, quietConfig())
	defer s.Close()
	frames := make(chan []byte, 16)
	go func() {
		h := make([]byte, 12)
		for {
			if _, err := io.ReadFull(b, h); err != nil {
				close(frames)
				return
			}
			if h[1] == typeData {
				io.CopyN(io.Discard, b, int64(binary.BigEndian.Uint32(h[8:])))
			}
			frames <- append([]byte(nil), h...)
		}
	}()
	go b.Write(append(header(0, typeData, flagSYN|flagFIN, 1, 3), "abc"...))
	st, err := s.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(st, st)
	st.Close()
	acked := false
	for {
		select {
		case h := <-frames:
			if binary.BigEndian.Uint16(h[2:])&flagACK != 0 {
				acked = true
			}
			continue
		case <-time.After(100 * time.Millisecond):
		}
		break
	}
	t.Logf("Data|SYN|FIN accepted and echoed; ACK sent: %v", acked)
}

// Go Away code 1 is not sent for a bad version or type: the session just
// closes the connection.
func TestQuirkNoGoAwayOnBadHeader(t *testing.T) {
	for _, bad := range [][]byte{header(1, typePing, flagSYN, 0, 1),
		header(0, 7, 0, 0, 0)} {
		a, b := net.Pipe()
		s, _ := yamux.Server(a, quietConfig())
		go b.Write(bad)
		got, _ := io.ReadAll(b)
		s.Close()
		ga := len(got) >= 12 && got[1] == typeGoAway
		t.Logf("header % x: %d bytes back, Go Away: %v", bad[:2], len(got), ga)
	}
}
