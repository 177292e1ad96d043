package main

// Scenarios driven with hand-written frames (see raw.go).

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

const step = 5 * time.Second

// waitACK reads frames until the ACK for id (WU|ACK or Data|ACK), a RST for
// id, or a Go Away. Data for id is appended to *echo when echo is non-nil.
func (r *Raw) waitACK(id uint32, echo *[]byte) error {
	f, err := r.until(step, func(f frame) bool {
		if f.id == id && f.typ == typeData && echo != nil {
			*echo = append(*echo, f.body...)
		}
		return (f.id == id && f.flags&(flagACK|flagRST) != 0) ||
			f.typ == typeGoAway
	})
	if err != nil {
		return fmt.Errorf("waiting for the ACK of stream %d: %v", id, err)
	}
	if f.flags&flagRST != 0 || f.typ == typeGoAway {
		return fmt.Errorf("stream %d: got %v instead of an ACK", id, f)
	}
	return nil
}

// echoRaw opens stream id with msg on Data|SYN, waits for the ACK, then
// sends FIN (separately: hashicorp never ACKs a stream whose FIN came with
// its SYN) and expects the whole echo and the peer's FIN. withFIN puts the
// FIN on the SYN frame instead. Pings are answered; other frames ignored.
func (r *Raw) echoRaw(id uint32, msg []byte, withFIN bool) error {
	if withFIN {
		r.send(typeData, flagSYN|flagFIN, id, uint32(len(msg)), msg)
	} else {
		r.send(typeData, flagSYN, id, uint32(len(msg)), msg)
	}
	var got []byte
	acked := false
	finSent := withFIN
	_, err := r.until(step, func(f frame) bool {
		if f.typ == typePing && f.flags&flagSYN != 0 {
			r.send(typePing, flagACK, 0, f.length, nil)
		}
		if f.id != id || f.typ > typeWU {
			return f.typ == typeGoAway
		}
		if f.flags&flagACK != 0 {
			acked = true
			if !finSent {
				r.send(typeWU, flagFIN, id, 0, nil)
				finSent = true
			}
		}
		got = append(got, f.body...)
		return f.flags&(flagFIN|flagRST) != 0
	})
	if err != nil {
		return fmt.Errorf("stream %d: %v (acked %v, got %d bytes)", id, err, acked,
			len(got))
	}
	if !acked {
		return fmt.Errorf("stream %d: no ACK before its FIN", id)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("stream %d: echo %q, want %q", id, got, msg)
	}
	return nil
}

// endClean half-closes the transport and expects EOF back; a Go Away on the
// way must have code 0.
func (r *Raw) endClean() error {
	if !r.finish(step) {
		return fmt.Errorf("our queued frames did not drain")
	}
	for {
		f, err := r.next(step)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("after our EOF: %v", err)
		}
		if f.typ == typeGoAway && f.length != 0 {
			return fmt.Errorf("after our EOF: %v", f)
		}
	}
}

// resetRaw: hashicorp/yamux v0.1.x has no public Stream.Reset, so the RST is
// written by hand. The stream is reset while the peer has an echo write
// blocked on our (never credited) window; the peer must release it and go
// on serving other streams.
func resetRaw(e *Env) (string, error) {
	r := newRaw(e.c)
	id := e.ourID(0)
	r.send(typeWU, flagSYN, id, 0, nil)
	half := make([]byte, initialWindow)
	gen(11).Read(half)
	r.send(typeData, 0, id, uint32(len(half)), half)
	// Collect the echo of the whole window (our window for the peer is now
	// used up: we never send credit) and the peer's credit for us.
	var echo []byte
	credit := uint64(0)
	acked := false
	_, err := r.until(step, func(f frame) bool {
		if f.id == id {
			if f.flags&flagACK != 0 {
				acked = true
			}
			if f.typ == typeData {
				echo = append(echo, f.body...)
			} else if f.typ == typeWU {
				credit += uint64(f.length)
			}
		}
		return len(echo) >= initialWindow && credit > 0
	})
	if err != nil {
		return "", fmt.Errorf("before the reset: %v (echo %d bytes, credit %d)",
			err, len(echo), credit)
	}
	if !acked || !bytes.Equal(echo, half) {
		return "", fmt.Errorf("before the reset: acked=%v echo ok=%v", acked,
			bytes.Equal(echo, half))
	}
	// More data the peer can read but cannot echo (no window): its write
	// is now pending.
	more := make([]byte, credit)
	r.send(typeData, 0, id, uint32(len(more)), more)
	time.Sleep(100 * time.Millisecond)
	r.send(typeWU, flagRST, id, 0, nil)
	// The reset stream must stay quiet; another stream must work.
	id2 := e.ourID(1)
	if err := r.echoRaw(id2, []byte("after the reset"), false); err != nil {
		return "", err
	}
	// Raw ping as a last liveness check.
	r.send(typePing, flagSYN, 0, 0xC0FFEE, nil)
	var late []string
	_, err = r.until(step, func(f frame) bool {
		if f.id == id {
			late = append(late, f.String())
		}
		return f.typ == typePing && f.flags&flagACK != 0 && f.length == 0xC0FFEE
	})
	if err != nil {
		return "", fmt.Errorf("ping after the reset: %v", err)
	}
	if err := r.endClean(); err != nil {
		return "", err
	}
	d := "hashicorp v0.1.x has no Stream.Reset: WU|RST sent by hand while the peer's echo was blocked on window; next stream echoed, ping answered"
	if len(late) > 0 {
		d += "; frames for the reset stream after it: " + strings.Join(late, ", ")
	}
	return d, nil
}

// hostileBenign: the rows of doc/protocol.md's policy table that must NOT end
// the session.
func hostileBenign(e *Env) (string, error) {
	r := newRaw(e.c)
	// A normal echo, then a duplicate FIN on it, and Data and WU for it now
	// that it is closed: ignored.
	id := e.ourID(0)
	if err := r.echoRaw(id, []byte("first"), false); err != nil {
		return "", err
	}
	r.send(typeWU, flagFIN, id, 0, nil)
	r.send(typeData, 0, id, 4, []byte("late"))
	r.send(typeWU, 0, id, 1000, nil)
	// Data and WU for a stream that never existed (no SYN): ignored.
	r.send(typeData, 0, e.ourID(50), 10, []byte("0123456789"))
	r.send(typeWU, 0, e.ourID(50), 1000, nil)
	// Ping on a non-zero stream id: answered.
	r.send(typePing, flagSYN, e.ourID(51), 77, nil)
	if f, err := r.until(step, func(f frame) bool {
		return f.typ == typeGoAway ||
			(f.typ == typePing && f.flags&flagACK != 0 && f.length == 77)
	}); err != nil || f.typ == typeGoAway {
		return "", fmt.Errorf("ping on a stream id: %v %v", err, f)
	}
	// A pong that matches no ping: ignored.
	r.send(typePing, flagACK, 0, 0xBAD, nil)
	// Data after our own FIN: the peer resets that stream (not the
	// session).
	id2 := e.ourID(60)
	// One write, so the stream still exists when "def" arrives.
	r.sendJoined(frameBytes(typeData, flagSYN|flagFIN, id2, []byte("abc")),
		frameBytes(typeData, 0, id2, []byte("def")))
	var seen []string
	if _, err := r.until(step, func(f frame) bool {
		if f.id == id2 || f.typ == typeGoAway {
			seen = append(seen, f.String())
		}
		return (f.id == id2 && f.flags&flagRST != 0) || f.typ == typeGoAway
	}); err != nil {
		return "", fmt.Errorf("Data after FIN: no RST (%v; saw %s)", err,
			strings.Join(seen, ", "))
	}
	if strings.HasPrefix(seen[len(seen)-1], "GoAway") {
		return "", fmt.Errorf("Data after FIN ended the session: %s",
			strings.Join(seen, ", "))
	}
	// Window Update on a half-closed stream is fine, and the session works.
	id3 := e.ourID(61)
	if err := r.echoRaw(id3, []byte("still alive"), false); err != nil {
		return "", err
	}
	r.send(typeWU, 0, id3, 4096, nil)
	// SYN and FIN on one frame (a short request, rust-yamux style).
	if err := r.echoRaw(e.ourID(62), []byte("syn+fin"), true); err != nil {
		return "", fmt.Errorf("Data|SYN|FIN: %v", err)
	}
	// A skipped id opened late (hashicorp's concurrent opens do this).
	if err := r.echoRaw(e.ourID(64), []byte("ahead"), false); err != nil {
		return "", err
	}
	if err := r.echoRaw(e.ourID(63), []byte("late SYN"), false); err != nil {
		return "", fmt.Errorf("SYN on a skipped id: %v", err)
	}
	if err := r.endClean(); err != nil {
		return "", err
	}
	return "late SYN on a skipped id accepted, dup FIN and frames for a closed stream ignored, unknown-stream Data/WU ignored, ping on stream id answered, stray pong ignored, Data after FIN -> RST, Data|SYN|FIN echoed, session went on", nil
}

type mkind int

const (
	mVersion mkind = iota
	mType
	mWindowSYN
	mWindow
	mSynParity
	mSynZero
	mSynDup
	mSynReused
	mWUOverflow
)

// malformed returns a scenario that sends one protocol violation and
// expects Go Away(1) on the wire, then the transport to close.
func malformed(k mkind) func(e *Env) (string, error) {
	return func(e *Env) (string, error) {
		r := newRaw(e.c)
		id := e.ourID(0)
		var what string
		switch k {
		case mVersion:
			what = "header version 1 (Ping|SYN)"
			r.sendv(1, typePing, flagSYN, 0, 1, nil)
		case mType:
			what = "frame type 7"
			r.sendv(0, 7, 0, 0, 0, nil)
		case mWindowSYN:
			what = "Data|SYN with a 262145-byte body"
			r.send(typeData, flagSYN, id, initialWindow+1,
				make([]byte, initialWindow+1))
		case mWindow:
			what = "Data of 262145 bytes on an ACKed stream"
			r.send(typeWU, flagSYN, id, 0, nil)
			if err := r.waitACK(id, nil); err != nil {
				return "", err
			}
			r.send(typeData, 0, id, initialWindow+1, make([]byte, initialWindow+1))
		case mSynParity:
			what = fmt.Sprintf("SYN on id %d (the peer's parity)", e.theirID(0))
			r.send(typeWU, flagSYN, e.theirID(0), 0, nil)
		case mSynZero:
			what = "SYN on id 0"
			r.send(typeWU, flagSYN, 0, 0, nil)
		case mSynDup:
			what = fmt.Sprintf("second SYN on live stream %d", id)
			r.send(typeWU, flagSYN, id, 0, nil)
			if err := r.waitACK(id, nil); err != nil {
				return "", err
			}
			r.send(typeWU, flagSYN, id, 0, nil)
		case mSynReused:
			// Skipped ids may come late (hashicorp sends SYNs out of order);
			// an id whose stream already lived and ended may not.
			what = fmt.Sprintf("SYN on id %d again after that stream ended", id)
			if err := r.echoRaw(id, []byte("once"), false); err != nil {
				return "", err
			}
			time.Sleep(50 * time.Millisecond)
			r.send(typeWU, flagSYN, id, 0, nil)
		case mWUOverflow:
			what = "WU delta 0xFFFFFFFF on a 256 KiB send window"
			r.send(typeWU, flagSYN, id, 0, nil)
			if err := r.waitACK(id, nil); err != nil {
				return "", err
			}
			r.send(typeWU, 0, id, 0xFFFFFFFF, nil)
		}
		var before []string
		f, err := r.until(step, func(f frame) bool {
			if f.typ != typeGoAway {
				before = append(before, f.String())
			}
			return f.typ == typeGoAway
		})
		if err != nil {
			return "", fmt.Errorf("%s: no Go Away came back (%v; frames: %s)", what,
				err, strings.Join(before, ", "))
		}
		if f.length != 1 {
			return "", fmt.Errorf("%s: Go Away code %d, want 1", what, f.length)
		}
		// The peer ends the session: the transport closes (a TCP peer that
		// closes with our bytes unread sends RST: that counts too).
		for {
			_, err := r.next(step)
			if err == io.EOF {
				break
			}
			if err != nil && strings.Contains(err.Error(), "connection reset") {
				return what + ": GA(1) on the wire, then connection reset", nil
			}
			if err != nil {
				return "", fmt.Errorf("%s: GA(1) ok, but then %v", what, err)
			}
		}
		return what + ": GA(1) on the wire, then EOF", nil
	}
}
