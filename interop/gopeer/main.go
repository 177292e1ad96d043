// go-peer: checks a yamux echo peer (libyamux's examples/echo) with a real
// Go yamux library -- hashicorp/yamux or libp2p/go-yamux, picked by --lib --
// and with hand-written frames where no library can produce the bytes a
// scenario needs (those "raw" scenarios run only with --lib hashicorp: they
// do not depend on the library).
//
//	go-peer [--lib hashicorp|goyamux] --role client|server
//	               --transport stdio-spawn|tcp-connect|tcp-listen
//	               [--cmd "PROGRAM ARGS"] [--addr HOST:PORT]
//	               [--scenario NAME[,NAME...]|all|malformed] [--timeout 60s]
//
// Each scenario runs on a fresh transport (and a fresh child when --cmd is
// given; "{addr}" in --cmd is replaced by the TCP address) and prints one
// line: SCENARIO name PASS|FAIL|SKIP secs detail.
//
//	go-peer --serve-echo [--lib hashicorp|goyamux] [--client|--server]
//	        [--stdio | --listen HOST:PORT | --connect HOST:PORT]
//	        [--keepalive MS] [--accept-delay MS] [--open N]
//
// runs a yamux echo peer on the chosen library with examples/echo's command
// line (plus knobs the C-side driver scenarios use, see cdrive.go).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

type Peer struct {
	lib       Lib
	role      string
	transport string
	cmd       string
	addr      string
	timeout   time.Duration
	verbose   bool
	kaArgs    string
	listener  *net.TCPListener
}

type exitExpect int

const (
	expectZero    exitExpect = iota // exit 0
	expectNonZero                   // exit != 0, one stderr line, no signal
	expectClean                     // no signal; exit 0, or != 0 with one line
)

type Scenario struct {
	name   string
	extra  func(p *Peer) string // extra arguments for the spawned peer
	expect exitExpect
	run    func(e *Env) (string, error)
	raw    bool // hand-written frames: run with --lib hashicorp only
	cdrive bool // needs the C driver (interop/c/yxdrive) as --cmd
}

// Env is what a scenario works with: the transport, and the peer settings.
type Env struct {
	p *Peer
	c *Conn
}

func (e *Env) config() *MuxConfig {
	return &MuxConfig{Verbose: e.p.verbose}
}

func (e *Env) session(cfg *MuxConfig) (Session, error) {
	if e.p.role == "client" {
		return e.p.lib.Client(e.c, cfg)
	}
	return e.p.lib.Server(e.c, cfg)
}

// ids for raw scenarios: ours has the parity of our role.
func (e *Env) ourID(n uint32) uint32 {
	if e.p.role == "client" {
		return 2*n + 1
	}
	return 2*n + 2
}

func (e *Env) theirID(n uint32) uint32 {
	if e.p.role == "client" {
		return 2*n + 2
	}
	return 2*n + 1
}

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--serve-echo" ||
		os.Args[1] == "-serve-echo") {
		os.Exit(serveEcho(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "--faults" {
		os.Exit(faultsMain(os.Args[2:]))
	}
	p := &Peer{}
	libName := flag.String("lib", "hashicorp", "Go yamux library: hashicorp|goyamux")
	flag.StringVar(&p.role, "role", "client", "our yamux role: client|server")
	flag.StringVar(&p.transport, "transport", "stdio-spawn",
		"stdio-spawn|tcp-connect|tcp-listen")
	flag.StringVar(&p.cmd, "cmd", "", "peer program to spawn ({addr}: TCP address)")
	flag.StringVar(&p.addr, "addr", "127.0.0.1:0", "TCP address (port 0: pick one)")
	scen := flag.String("scenario", "all", "scenario name, comma list, all, malformed")
	flag.DurationVar(&p.timeout, "timeout", 60*time.Second, "per-scenario timeout")
	flag.BoolVar(&p.verbose, "v", false, "show library logs and the peer's stderr")
	flag.StringVar(&p.kaArgs, "keepalive-args", "--keepalive 100",
		"extra arguments for the spawned peer in the keepalive scenario")
	flag.StringVar(&traceFiles, "trace", "",
		"copy each transport's bytes to PREFIX.N.tx and PREFIX.N.rx")
	list := flag.Bool("list", false, "list scenarios")
	version := flag.Bool("version", false, "print the library's name and version")
	flag.Parse()
	if p.role != "client" && p.role != "server" {
		fmt.Fprintln(os.Stderr, "--role must be client or server")
		os.Exit(2)
	}
	p.lib = libs[*libName]
	if p.lib == nil {
		fmt.Fprintln(os.Stderr, "--lib must be hashicorp or goyamux")
		os.Exit(2)
	}
	if *version {
		fmt.Println(p.lib.Name(), p.lib.Version())
		return
	}
	all := scenarios()
	if *list {
		for _, s := range all {
			fmt.Println(s.name, map[bool]string{true: "raw", false: ""}[s.raw],
				map[bool]string{true: "cdrive", false: ""}[s.cdrive])
		}
		return
	}
	var sel []Scenario
	for _, want := range strings.Split(*scen, ",") {
		found := false
		for _, s := range all {
			// "all": every scenario for an echo peer (raw ones only on
			// hashicorp); "cdrive": the C-driver ones.
			ok := want == "all" && !s.cdrive && (!s.raw || *libName == "hashicorp")
			ok = ok || want == "cdrive" && s.cdrive
			if ok || s.name == want ||
				(want == "malformed" && strings.HasPrefix(s.name, "malformed_")) {
				sel = append(sel, s)
				found = true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "unknown scenario %q (try --list)\n", want)
			os.Exit(2)
		}
	}
	fmt.Printf("# %s %s, role %s, transport %s, peer: %s\n",
		p.lib.Name(), p.lib.Version(), p.role, p.transport, p.cmd)
	failed, passed, skipped := 0, 0, 0
	for _, s := range sel {
		res, secs, detail := p.runOne(s)
		fmt.Printf("SCENARIO %s %s %.2f %s\n", s.name, res, secs, detail)
		switch res {
		case "PASS":
			passed++
		case "FAIL":
			failed++
		default:
			skipped++
		}
	}
	fmt.Printf("# %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}

type skipError struct{ msg string }

func (s skipError) Error() string { return s.msg }

func (p *Peer) runOne(s Scenario) (res string, secs float64, detail string) {
	start := time.Now()
	defer func() { secs = time.Since(start).Seconds() }()
	extra := ""
	if s.extra != nil {
		extra = s.extra(p)
	}
	c, err := p.Dial(extra)
	if err != nil {
		return "FAIL", 0, "transport: " + err.Error()
	}
	e := &Env{p: p, c: c}
	type result struct {
		detail string
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- result{"", fmt.Errorf("panic: %v", r)}
			}
		}()
		d, err := s.run(e)
		ch <- result{d, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(p.timeout):
		r = result{"", fmt.Errorf("timed out after %v", p.timeout)}
		c.abrupt = true
		c.Close()
		if c.proc != nil {
			c.proc.kill()
		}
	}
	c.Close()
	res, detail = "PASS", r.detail
	if r.err != nil {
		if se, ok := r.err.(skipError); ok {
			res, detail = "SKIP", se.msg
		} else {
			res, detail = "FAIL", r.err.Error()
		}
	}
	if c.proc != nil {
		ok, d := p.checkExit(c, s.expect)
		if detail != "" {
			detail += "; "
		}
		detail += d
		if !ok && res == "PASS" {
			res = "FAIL"
		}
	}
	return res, 0, detail
}

func (p *Peer) checkExit(c *Conn, want exitExpect) (bool, string) {
	proc := c.proc
	if c.listenMode {
		// A --listen server keeps serving; it is only judged if it exits.
		if !proc.exited(500 * time.Millisecond) {
			proc.kill()
			return true, "listener still serving"
		}
	} else if !proc.exited(10 * time.Second) {
		proc.kill()
		return false, "peer did not exit within 10s after the session ended"
	}
	code, signaled, desc := proc.exitDesc()
	lines := proc.stderrLines()
	if len(lines) > 0 {
		desc += fmt.Sprintf(" stderr=%q", strings.Join(lines, " | "))
	}
	if signaled {
		return false, "peer " + desc
	}
	switch want {
	case expectZero:
		return code == 0, "peer " + desc
	case expectNonZero:
		if code == 0 {
			return false, "peer " + desc + " (expected non-zero)"
		}
		if len(lines) != 1 {
			return false, "peer " + desc + fmt.Sprintf(" (expected one stderr line, got %d)", len(lines))
		}
		return true, "peer " + desc
	default:
		if code != 0 && len(lines) != 1 {
			return false, "peer " + desc + fmt.Sprintf(" (expected one stderr line, got %d)", len(lines))
		}
		return true, "peer " + desc
	}
}
