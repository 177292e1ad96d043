// rustbench: workloads W1-W7 of shared/bench/WORKLOADS.md for rust-yamux
// (libp2p's `yamux` crate) on tokio. The Rust counterpart of bench/go
// (gobench): same flags, same RESULT keys.
//
// One run measures one workload and prints exactly one line on stdout:
//
//   RESULT impl=rustyamux w=<W> transport=<tcp|pipe> key=value ...
//          config=<changes|default> runtime=<...> lib=<yamux version>
//
// The client (this process) spawns itself as the server (-role=server) and
// opens every stream; the server accepts them. TCP is on 127.0.0.1 (the
// child prints "PORT n"); W2, W2pin and W7p run over the child's stdin and
// stdout (real pipes on both sides). W1pin/W2pin run on tokio's
// current-thread runtime (the driver adds `taskset -c 0`), W9 on the
// multi-thread runtime with one worker per core, everything else on the
// multi-thread runtime with 2 workers.
//
// Usage: rustbench -impl=rustyamux
//          -w=W1|W1pin|W2|W2pin|W3|W4|W5|W6|W6hold|W6read|W7|W7p|W8|W8x8|
//          W8r100|W8m|W8lat|W9 [-size=N]
//          [-chunk=N] [-streams=N] [-count=N] [-msg=N] [-resp=N]
//          [-mode=hold|read] [-exitwait=DUR] [-timeout=SECS] [-defaults]
//          [-sessions=N] [-busy=N] [-inflight=N] [-keepalive=MS] [-idle=MS]

mod session;
mod w9;
mod wan;
mod workloads;

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout};

use session::{Io, Session};

use rust_yamux_peer::YAMUX_VERSION;
pub const MIB: f64 = (1u64 << 20) as f64;

#[derive(Clone, Debug)]
pub struct Opts {
    pub role: String,
    pub imp: String,
    pub w: String,
    pub size: u64,
    pub chunk: usize,
    pub streams: usize,
    pub count: usize,
    pub msg: usize,
    pub resp: usize,
    pub mode: String,
    pub exitwait: Duration,
    pub timeout: u64,
    pub defaults: bool,
    /// W7/W8lat bulk warm-up, ms.
    pub warmup: u64,
    /// W8: toxiproxy "host:port/name".
    pub proxy: String,
    /// W9 (w9.rs): sessions, busy sessions, sessions established at once,
    /// the keepalive interval asked for (ms) and the measured idle time (ms).
    pub sessions: usize,
    pub busy: usize,
    pub inflight: usize,
    pub keepalive: u64,
    pub idle: u64,
}

static OPTS: OnceLock<Opts> = OnceLock::new();

pub fn opt() -> &'static Opts {
    OPTS.get().expect("options")
}

pub fn die(msg: impl std::fmt::Display) -> ! {
    let o = OPTS.get();
    eprintln!(
        "rustbench {} ({} {}): {msg}",
        o.map(|o| o.role.as_str()).unwrap_or("?"),
        o.map(|o| o.imp.as_str()).unwrap_or("?"),
        o.map(|o| o.w.as_str()).unwrap_or("?")
    );
    std::process::exit(1)
}

fn usage() -> ! {
    eprintln!(
        "usage: rustbench -impl=rustyamux -w=W1|W1pin|W2|W2pin|W3|W4|W5|W6|W6hold|W6read|W7|W7p|\n\
         \x20      W8|W8x8|W8r100|W8m|W8lat|W9\n\
         \x20      [-size=N] [-chunk=N] [-streams=N] [-count=N] [-msg=N] [-resp=N]\n\
         \x20      [-mode=hold|read] [-exitwait=DUR|SECS] [-timeout=SECS] [-defaults]\n\
         \x20      [-sessions=N] [-busy=N] [-inflight=N] [-keepalive=MS] [-idle=MS] (W9)"
    );
    std::process::exit(2)
}

/// "10", "2.5" (seconds) or Go-style "10s", "500ms", "1m".
fn parse_duration(s: &str) -> Option<Duration> {
    if let Ok(x) = s.parse::<f64>() {
        return Some(Duration::from_secs_f64(x));
    }
    let n = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let x: f64 = s[..n].parse().ok()?;
    let mul = match &s[n..] {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(x * mul))
}

fn parse_args() -> Opts {
    let mut o = Opts {
        role: "client".into(),
        imp: "rustyamux".into(),
        w: "W1".into(),
        size: 0,
        chunk: 0,
        streams: 0,
        count: 0,
        msg: 0,
        resp: 0,
        mode: "hold".into(),
        exitwait: Duration::from_secs(10),
        timeout: 600,
        defaults: false,
        warmup: 0,
        proxy: String::new(),
        sessions: 10000,
        busy: 1000,
        inflight: 256,
        keepalive: 1000,
        idle: 10000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].trim_start_matches('-');
        if a == "h" || a == "help" {
            usage();
        }
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None if a == "defaults" => (a.to_string(), "true".to_string()),
            None => {
                i += 1;
                match args.get(i) {
                    Some(v) => (a.to_string(), v.clone()),
                    None => usage(),
                }
            }
        };
        i += 1;
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|_| die(format!("bad -{k}={v}"))) };
        match k.as_str() {
            "role" => o.role = v,
            "impl" => o.imp = v,
            "w" => o.w = v,
            "size" => o.size = num(&v),
            "chunk" => o.chunk = num(&v) as usize,
            "streams" => o.streams = num(&v) as usize,
            "count" => o.count = num(&v) as usize,
            "msg" => o.msg = num(&v) as usize,
            "resp" => o.resp = num(&v) as usize,
            "mode" => o.mode = v,
            "exitwait" => {
                o.exitwait = parse_duration(&v).unwrap_or_else(|| die(format!("bad -exitwait={v}")))
            }
            "timeout" => o.timeout = num(&v),
            "defaults" => o.defaults = v != "false" && v != "0",
            "warmup" => o.warmup = num(&v),
            "proxy" => o.proxy = v,
            "sessions" => o.sessions = num(&v) as usize,
            "busy" => o.busy = num(&v) as usize,
            "inflight" => o.inflight = num(&v) as usize,
            "keepalive" => o.keepalive = num(&v),
            "idle" => o.idle = num(&v),
            "depth" => {} // the C program's write depth; ignored
            _ => {
                eprintln!("unknown flag -{k}");
                usage()
            }
        }
    }
    // W6hold / W6read: W6 with that -mode (for drivers that name the rows).
    if let Some(m) = o.w.strip_prefix("W6") {
        if m == "hold" || m == "read" {
            o.mode = m.to_string();
            o.w = "W6".into();
        }
    }
    // Per-workload defaults (0 means "the default"), as in gobench.
    fn def(p: &mut usize, v: usize) {
        if *p == 0 {
            *p = v;
        }
    }
    match o.w.as_str() {
        "W3" => {
            def(&mut o.streams, 8192);
            def(&mut o.msg, 1024);
        }
        "W4" => {
            def(&mut o.streams, 64);
            def(&mut o.count, 200000);
            def(&mut o.msg, 64);
        }
        "W5" => {
            def(&mut o.streams, 32);
            def(&mut o.count, 100000);
            def(&mut o.msg, 100);
            def(&mut o.resp, 1024);
        }
        "W6" => def(&mut o.streams, 100000),
        "W7" | "W7p" => {
            def(&mut o.count, 20000);
            def(&mut o.msg, 64);
            if o.warmup == 0 {
                o.warmup = 1000;
            }
        }
        "W8x8" => def(&mut o.streams, 8),
        "W8m" => {
            def(&mut o.streams, 1000);
            if o.size == 0 {
                o.size = 1000 << 20;
            }
        }
        "W9" => {
            def(&mut o.count, 200000);
            def(&mut o.msg, 64);
        }
        "W8lat" => {
            def(&mut o.count, 200);
            def(&mut o.msg, 64);
            if o.warmup == 0 {
                o.warmup = 5000;
            }
        }
        _ => {}
    }
    def(&mut o.streams, 1);
    if o.size == 0 && o.w.starts_with("W8") {
        o.size = 256 << 20;
    }
    if o.size == 0 {
        o.size = 1 << 30;
    }
    def(&mut o.chunk, 65536);
    o
}

pub fn is_pipe() -> bool {
    matches!(opt().w.as_str(), "W2" | "W2pin" | "W7p")
}

/// The W8 family, run through the driver's toxiproxy (-proxy).
pub fn is_wan() -> bool {
    opt().w.starts_with("W8")
}

/// W8, W8x8, W8r100, W8m (W8lat is W7 on the slow link).
pub fn is_wan_bulk() -> bool {
    is_wan() && opt().w != "W8lat"
}

pub fn pinned() -> bool {
    matches!(opt().w.as_str(), "W1pin" | "W2pin")
}

fn main() {
    let o = parse_args();
    OPTS.set(o.clone()).unwrap();
    if o.imp != "rustyamux" {
        die("unknown -impl (only rustyamux)");
    }
    match o.w.as_str() {
        "W1" | "W1pin" | "W2" | "W2pin" | "W3" | "W4" | "W5" | "W7" | "W7p" | "W8" | "W8x8"
        | "W8r100" | "W8m" | "W8lat" => {}
        "W9" => {
            if o.sessions < 1 || o.busy < 1 || o.inflight < 1 || o.idle < 1 {
                die("W9 needs -sessions, -busy, -inflight and -idle >= 1");
            }
        }
        "W6" => {
            if o.mode != "hold" && o.mode != "read" {
                die("-mode must be hold or read");
            }
        }
        _ => die("unknown -w"),
    }
    // A hung run dies instead of stalling the driver.
    let t = o.timeout;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(t));
        die(format!("timeout after {t}s"));
    });
    let rt = if pinned() {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else if o.w == "W9" {
        // One worker per core, tokio's default: the server uses every core.
        tokio::runtime::Builder::new_multi_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    }
    .unwrap_or_else(|e| die(format!("runtime: {e}")));
    if o.w == "W9" {
        w9::raise_nofile();
        if o.role == "server" {
            rt.block_on(w9::server());
        } else {
            rt.block_on(w9::client());
        }
    } else if o.role == "server" {
        if is_wan_bulk() {
            wan::rx_init();
        }
        rt.block_on(workloads::run_server());
    } else {
        rt.block_on(workloads::run_client());
    }
    // Do not wait for tasks still blocked on the session.
    rt.shutdown_background();
}

pub fn runtime_name() -> String {
    if pinned() {
        "current_thread".into()
    } else if opt().w == "W9" {
        format!("multi_thread:{}", std::thread::available_parallelism().map_or(1, |n| n.get()))
    } else {
        "multi_thread:2".into()
    }
}

/// Config changes from the defaults, printed as config=...
static CONFIG: OnceLock<String> = OnceLock::new();

/// Records the run's config changes (the first call wins).
pub fn set_config(s: String) -> Result<(), String> {
    CONFIG.set(s)
}

pub fn config_string() -> &'static str {
    CONFIG.get().map(|s| s.as_str()).unwrap_or("default")
}

/// yamux::Config::default() except what a workload cannot run with: more
/// streams than max_num_streams (512) at once (W3 8,192 opened together, W6
/// 100,000 held, W8m 1,000 sending). The crate asserts
/// max_connection_receive_window >= max_num_streams * 256 KiB, so that limit
/// (1 GiB) is raised along with it.
pub fn yamux_config() -> yamux::Config {
    let mut cfg = yamux::Config::default();
    let o = opt();
    if matches!(o.w.as_str(), "W3" | "W6" | "W8m") && !o.defaults && o.streams > 512 {
        let win = o.streams * yamux::DEFAULT_CREDIT as usize;
        if win > 1 << 30 {
            cfg.set_max_connection_receive_window(Some(win));
        }
        cfg.set_max_num_streams(o.streams);
        let mut s = format!("max_num_streams:{}", o.streams);
        if win > 1 << 30 {
            s += &format!(",max_connection_receive_window:{win}");
        }
        let _ = CONFIG.set(s);
    }
    cfg
}

// ---- process plumbing ------------------------------------------------------

pub struct ChildProc {
    pub child: Child,
    /// The child's stdout in TCP mode (PORT, and the W6 lines).
    pub out: Option<tokio::io::Lines<BufReader<ChildStdout>>>,
}

impl ChildProc {
    pub async fn read_line(&mut self) -> String {
        match self.out.as_mut().unwrap().next_line().await {
            Ok(Some(l)) => l.trim().to_string(),
            Ok(None) => die("the child's stdout ended"),
            Err(e) => die(format!("reading the child's stdout: {e}")),
        }
    }

    /// Waits up to d for the child to exit; kills it otherwise. Returns
    /// whether it exited by itself.
    pub async fn wait(&mut self, d: Duration) -> bool {
        match tokio::time::timeout(d, self.child.wait()).await {
            Ok(Ok(st)) => {
                if !st.success() {
                    die(format!("server: {st}"));
                }
                true
            }
            Ok(Err(e)) => die(format!("wait: {e}")),
            Err(_) => {
                let _ = self.child.kill().await;
                false
            }
        }
    }
}

/// Starts this program as the server; sets up the transport and the session
/// (not timed).
pub async fn spawn_and_connect() -> (ChildProc, Session) {
    let me = std::env::current_exe().unwrap_or_else(|e| die(format!("executable: {e}")));
    let mut cmd = tokio::process::Command::new(me);
    cmd.args(std::env::args().skip(1)).arg("-role=server");
    cmd.stderr(Stdio::inherit());
    cmd.stdin(if is_pipe() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped());
    // The child dies with us (a killed client must not leave it running).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| die(format!("spawn: {e}")));
    let cfg = yamux_config();
    if is_pipe() {
        let w = child.stdin.take().unwrap();
        let r = child.stdout.take().unwrap();
        let io = Io::new(Box::pin(r), Box::pin(w));
        let s = Session::new(io, cfg, true);
        return (ChildProc { child, out: None }, s);
    }
    let out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut c = ChildProc { child, out: Some(out) };
    let line = c.read_line().await;
    let port: u16 = line
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| die(format!("bad port line {line:?}")));
    let addr =
        if opt().proxy.is_empty() { format!("127.0.0.1:{port}") } else { wan::proxy_route(port) };
    let sock =
        TcpStream::connect(addr.as_str()).await.unwrap_or_else(|e| die(format!("connect: {e}")));
    sock.set_nodelay(true).unwrap_or_else(|e| die(format!("nodelay: {e}")));
    let (r, w) = sock.into_split();
    let s = Session::new(Io::new(Box::pin(r), Box::pin(w)), cfg, true);
    (c, s)
}

/// The server's end: TCP listens, prints the port and accepts one
/// connection; pipes use fds 0/1.
pub async fn server_session() -> Session {
    let cfg = yamux_config();
    if is_pipe() {
        use std::os::fd::{FromRawFd, OwnedFd};
        use tokio::net::unix::pipe;
        // from_owned_fd checks that these are pipes and makes them
        // non-blocking. Rust already ignores SIGPIPE (EPIPE instead).
        let r = pipe::Receiver::from_owned_fd(unsafe { OwnedFd::from_raw_fd(0) })
            .unwrap_or_else(|e| die(format!("stdin: {e}")));
        let w = pipe::Sender::from_owned_fd(unsafe { OwnedFd::from_raw_fd(1) })
            .unwrap_or_else(|e| die(format!("stdout: {e}")));
        return Session::new(Io::new(Box::pin(r), Box::pin(w)), cfg, false);
    }
    let ln = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| die(format!("listen: {e}")));
    let port = ln.local_addr().unwrap().port();
    println!("PORT {port}");
    let (sock, _) = ln.accept().await.unwrap_or_else(|e| die(format!("accept: {e}")));
    drop(ln);
    sock.set_nodelay(true).unwrap_or_else(|e| die(format!("nodelay: {e}")));
    let (r, w) = sock.into_split();
    Session::new(Io::new(Box::pin(r), Box::pin(w)), cfg, false)
}

// ---- results -----------------------------------------------------------------

pub fn print_result(kv: &[(&str, String)]) {
    let o = opt();
    let mut s = format!(
        "RESULT impl={} w={} transport={}",
        o.imp,
        o.w,
        if is_pipe() { "pipe" } else { "tcp" }
    );
    for (k, v) in kv {
        s += &format!(" {k}={v}");
    }
    s += &format!(" config={} runtime={} lib={}", config_string(), runtime_name(), YAMUX_VERSION);
    println!("{s}");
}

pub fn f0(x: f64) -> String {
    format!("{x:.0}")
}
pub fn f1(x: f64) -> String {
    format!("{x:.1}")
}
pub fn f6(x: f64) -> String {
    format!("{x:.6}")
}
