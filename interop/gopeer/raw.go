package main

// Hand-written frames, without the yamux library, for the scenarios that
// must put exact (or invalid) bytes on the wire and see exactly what comes
// back.

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

const (
	typeData   = 0
	typeWU     = 1
	typePing   = 2
	typeGoAway = 3

	flagSYN = 1
	flagACK = 2
	flagFIN = 4
	flagRST = 8

	initialWindow = 262144
)

type frame struct {
	ver, typ uint8
	flags    uint16
	id       uint32
	length   uint32
	body     []byte
}

func (f frame) String() string {
	names := []string{"Data", "WU", "Ping", "GoAway"}
	t := fmt.Sprintf("type%d", f.typ)
	if int(f.typ) < len(names) {
		t = names[f.typ]
	}
	fl := ""
	for i, n := range []string{"SYN", "ACK", "FIN", "RST"} {
		if f.flags&(1<<i) != 0 {
			fl += "|" + n
		}
	}
	return fmt.Sprintf("%s%s id=%d len=%d", t, fl, f.id, f.length)
}

func header(ver, typ uint8, flags uint16, id, length uint32) []byte {
	h := make([]byte, 12)
	h[0] = ver
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], id)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// Raw drives a transport frame by frame.
type Raw struct {
	c      *Conn
	frames chan frame
	err    error // set before frames is closed
	wq     chan []byte
	werr   chan error
	wdone  chan struct{}
}

func newRaw(c *Conn) *Raw {
	r := &Raw{c: c, frames: make(chan frame, 4096), wq: make(chan []byte, 1024),
		werr: make(chan error, 1), wdone: make(chan struct{})}
	go func() {
		defer close(r.frames)
		h := make([]byte, 12)
		for {
			if _, err := io.ReadFull(c, h); err != nil {
				r.err = err
				return
			}
			f := frame{ver: h[0], typ: h[1], flags: binary.BigEndian.Uint16(h[2:]),
				id: binary.BigEndian.Uint32(h[4:]), length: binary.BigEndian.Uint32(h[8:])}
			if f.typ == typeData && f.length > 0 {
				if f.length > 16<<20 {
					r.err = fmt.Errorf("peer sent a %d-byte Data frame", f.length)
					return
				}
				f.body = make([]byte, f.length)
				if _, err := io.ReadFull(c, f.body); err != nil {
					r.err = err
					return
				}
			}
			r.frames <- f
		}
	}()
	// Writes go through one goroutine so a peer that stops reading (after a
	// protocol error) cannot block the scenario.
	go func() {
		defer close(r.wdone)
		for b := range r.wq {
			if _, err := c.Write(b); err != nil {
				select {
				case r.werr <- err:
				default:
				}
				for range r.wq {
				}
				return
			}
		}
	}()
	return r
}

func (r *Raw) send(typ uint8, flags uint16, id, length uint32, body []byte) {
	r.sendv(0, typ, flags, id, length, body)
}

// sendJoined writes several frames (header+body each, from frameBytes) in
// one write, so the peer sees them in one read.
func (r *Raw) sendJoined(frames ...[]byte) {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	r.wq <- b
}

func frameBytes(typ uint8, flags uint16, id uint32, body []byte) []byte {
	return append(header(0, typ, flags, id, uint32(len(body))), body...)
}

func (r *Raw) sendv(ver, typ uint8, flags uint16, id, length uint32,
	body []byte) {
	b := header(ver, typ, flags, id, length)
	b = append(b, body...)
	r.wq <- b
}

// next returns the next frame, or an error on EOF/transport error/timeout.
func (r *Raw) next(timeout time.Duration) (frame, error) {
	select {
	case f, ok := <-r.frames:
		if !ok {
			if r.err == io.EOF {
				return frame{}, io.EOF
			}
			return frame{}, fmt.Errorf("transport: %v", r.err)
		}
		return f, nil
	case <-time.After(timeout):
		return frame{}, fmt.Errorf("no frame within %v", timeout)
	}
}

// until reads frames until pred returns true; every frame read is passed to
// pred. Returns the matching frame.
func (r *Raw) until(timeout time.Duration, pred func(frame) bool) (frame,
	error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return frame{}, fmt.Errorf("timeout after %v", timeout)
		}
		f, err := r.next(left)
		if err != nil {
			return frame{}, err
		}
		if pred(f) {
			return f, nil
		}
	}
}

// finish sends what is queued, then half-closes the transport (the peer
// reads EOF). Returns false if the queue did not drain within the timeout.
func (r *Raw) finish(timeout time.Duration) bool {
	close(r.wq)
	select {
	case <-r.wdone:
		r.c.CloseWrite()
		return true
	case <-time.After(timeout):
		return false
	}
}
