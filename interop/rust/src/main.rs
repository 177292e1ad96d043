// rust-yamux-peer: checks a yamux echo peer (libyamux's examples/echo) with
// the real rust-yamux crate (libp2p's `yamux` from crates.io) on tokio. Same
// command line and output as interop/gopeer (go-peer):
//
//   rust-yamux-peer --role client|server
//                   --transport stdio-spawn|tcp-connect|tcp-listen
//                   [--cmd "PROGRAM ARGS"] [--addr HOST:PORT]
//                   [--scenario NAME[,NAME...]|all] [--timeout 60s] [--list]
//                   [--trace PREFIX] [-v]
//
// Each scenario runs on a fresh transport (and a fresh child when --cmd is
// given; "{addr}" in --cmd is replaced by the TCP address) and prints one
// line: SCENARIO name PASS|FAIL|SKIP secs detail.

mod scenarios;
mod session;
mod transport;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::future::{self, Either};
use transport::{Conn, Dialer};

pub use rust_yamux_peer::YAMUX_VERSION;

#[derive(Clone, Copy, PartialEq)]
pub enum Expect {
    Zero,  // exit 0
    Clean, // no signal; exit 0, or != 0 with one stderr line
}

pub enum Outcome {
    Fail(String),
    Skip(String),
}

impl From<String> for Outcome {
    fn from(s: String) -> Self {
        Outcome::Fail(s)
    }
}

impl From<&str> for Outcome {
    fn from(s: &str) -> Self {
        Outcome::Fail(s.to_string())
    }
}

pub type ScenResult = Result<String, Outcome>;

pub struct Peer {
    pub role: String,
    pub timeout: Duration,
    pub ka_args: String,
    dialer: Dialer,
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}");
    eprintln!(
        "usage: rust-yamux-peer --role client|server --transport stdio-spawn|tcp-connect|tcp-listen\n\
         \x20      [--cmd \"PROGRAM ARGS\"] [--addr HOST:PORT] [--scenario NAME[,NAME...]|all]\n\
         \x20      [--timeout 60s] [--keepalive-args ARGS] [--trace PREFIX] [-v] [--list]"
    );
    std::process::exit(2)
}

/// Go-style durations: "90s", "2m", "1m30s", "500ms", "1h".
fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" | "" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += v * mult;
        rest = &rest[u..];
    }
    Some(Duration::from_secs_f64(total))
}

fn main() {
    let mut role = "client".to_string();
    let mut transport = "stdio-spawn".to_string();
    let mut cmd = String::new();
    let mut addr = "127.0.0.1:0".to_string();
    let mut scen = "all".to_string();
    let mut timeout = Duration::from_secs(60);
    let mut verbose = false;
    let mut ka_args = "--keepalive 100 --ping 100".to_string();
    let mut trace = String::new();
    let mut list = false;

    // Go's flag syntax: -name value, --name value, --name=value.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if !a.starts_with('-') {
            usage(&format!("unexpected argument {a:?}"));
        }
        let name = a.trim_start_matches('-');
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (name.to_string(), None),
        };
        if name == "list" || name == "v" || name == "h" || name == "help" {
            match name.as_str() {
                "list" => list = true,
                "v" => verbose = true,
                _ => usage(""),
            }
            i += 1;
            continue;
        }
        let val = match inline {
            Some(v) => v,
            None => {
                i += 1;
                match args.get(i) {
                    Some(v) => v.clone(),
                    None => usage(&format!("flag needs an argument: -{name}")),
                }
            }
        };
        match name.as_str() {
            "role" => role = val,
            "transport" => transport = val,
            "cmd" => cmd = val,
            "addr" => addr = val,
            "scenario" => scen = val,
            "timeout" => {
                timeout = parse_duration(&val)
                    .unwrap_or_else(|| usage(&format!("invalid duration {val:?}")))
            }
            "keepalive-args" => ka_args = val,
            "trace" => trace = val,
            _ => usage(&format!("flag provided but not defined: -{name}")),
        }
        i += 1;
    }
    if role != "client" && role != "server" {
        eprintln!("--role must be client or server");
        std::process::exit(2);
    }
    let all = scenarios::scenarios();
    if list {
        for s in &all {
            println!("{}", s.name);
        }
        return;
    }
    let mut sel = Vec::new();
    for want in scen.split(',') {
        let mut found = false;
        for s in &all {
            if want == "all" || s.name == want {
                sel.push(s);
                found = true;
            }
        }
        if !found {
            eprintln!("unknown scenario {want:?} (try --list)");
            std::process::exit(2);
        }
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let failed = rt.block_on(async move {
        println!(
            "# rust-yamux {}, role {}, transport {}, peer: {}",
            YAMUX_VERSION, role, transport, cmd
        );
        let mut p = Peer {
            role,
            timeout,
            ka_args,
            dialer: Dialer::new(transport, cmd, addr, verbose, trace),
        };
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for s in sel {
            let (res, secs, detail) = p.run_one(s).await;
            println!("SCENARIO {} {} {:.2} {}", s.name, res, secs, detail);
            match res {
                "PASS" => passed += 1,
                "FAIL" => failed += 1,
                _ => skipped += 1,
            }
        }
        println!("# {passed} passed, {failed} failed, {skipped} skipped");
        failed
    });
    // Leftover tasks (drains, reapers) end with the runtime.
    rt.shutdown_timeout(Duration::from_millis(100));
    if failed > 0 {
        std::process::exit(1);
    }
}

impl Peer {
    async fn run_one(&mut self, s: &scenarios::Scenario) -> (&'static str, f64, String) {
        let start = Instant::now();
        let extra = match s.extra {
            Some(f) => f(self),
            None => String::new(),
        };
        let mut c: Conn = match self.dialer.dial(&extra).await {
            Ok(c) => c,
            Err(e) => return ("FAIL", 0.0, format!("transport: {e}")),
        };
        let ctl = c.ctl.clone();
        let env = scenarios::Env {
            client: self.role == "client",
            io: c.io.take(),
            tap: c.tap.clone(),
            ctl: c.ctl.clone(),
        };
        let run = (s.run)(env);
        let sleep = tokio::time::sleep(self.timeout);
        futures::pin_mut!(sleep);
        let r = match future::select(run, sleep).await {
            Either::Left((r, _)) => r,
            Either::Right((_, run)) => {
                // Close both ways at once, then drop the scenario (and with
                // it the session and the transport).
                ctl.abrupt.store(true, Ordering::SeqCst);
                drop(run);
                if let Some(p) = c.proc.as_mut() {
                    p.kill().await;
                }
                Err(Outcome::Fail(format!("timed out after {:?}", self.timeout)))
            }
        };
        let (mut res, mut detail) = match r {
            Ok(d) => ("PASS", d),
            Err(Outcome::Skip(d)) => ("SKIP", d),
            Err(Outcome::Fail(d)) => ("FAIL", d),
        };
        if c.proc.is_some() {
            let (ok, d) = check_exit(&mut c, s.expect).await;
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&d);
            if !ok && res == "PASS" {
                res = "FAIL";
            }
        }
        (res, start.elapsed().as_secs_f64(), detail)
    }
}

async fn check_exit(c: &mut Conn, want: Expect) -> (bool, String) {
    let proc = c.proc.as_mut().unwrap();
    if c.listen_mode {
        // A --listen server keeps serving; it is only judged if it exits.
        if !proc.exited(Duration::from_millis(500)).await {
            proc.kill().await;
            return (true, "listener still serving".into());
        }
    } else if !proc.exited(Duration::from_secs(10)).await {
        proc.kill().await;
        return (false, "peer did not exit within 10s after the session ended".into());
    }
    let (code, signaled, mut desc) = proc.exit_desc();
    let lines = proc.stderr_lines();
    if !lines.is_empty() {
        desc.push_str(&format!(" stderr={:?}", lines.join(" | ")));
    }
    if signaled {
        return (false, format!("peer {desc}"));
    }
    match want {
        Expect::Zero => (code == 0, format!("peer {desc}")),
        Expect::Clean => {
            if code != 0 && lines.len() != 1 {
                return (
                    false,
                    format!("peer {desc} (expected one stderr line, got {})", lines.len()),
                );
            }
            (true, format!("peer {desc}"))
        }
    }
}
