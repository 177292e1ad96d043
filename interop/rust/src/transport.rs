// Transports: a child's stdin/stdout, a TCP connection we dial, or one we
// accept. Each scenario gets a fresh transport (and a fresh child when we
// spawn one), so a scenario that ends the session cannot spoil the next.
//
// Io is what rust-yamux runs on. It bridges tokio's I/O traits to the futures
// traits yamux uses, decodes frame headers in both directions (the Tap) so
// scenarios can check what went over the wire, and on drop half-closes and
// drains: the peer reads EOF and can flush its Go Away and exit cleanly
// instead of writing into a closed pipe (unless the close is abrupt).

use std::fs::File;
use std::io::{self, Write};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead as TokioRead, AsyncReadExt, AsyncWrite as TokioWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const DATA: u8 = 0;
pub const WU: u8 = 1;
pub const PING: u8 = 2;
pub const GOAWAY: u8 = 3;
pub const SYN: u16 = 1;
pub const ACK: u16 = 2;
pub const FIN: u16 = 4;
pub const RST: u16 = 8;

/// One frame header seen on the wire.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub rx: bool, // true: the peer sent it; false: we did
    pub typ: u8,
    pub flags: u16,
    pub id: u32,
    pub len: u32,
    pub at: Instant,
}

impl Frame {
    pub fn has(&self, f: u16) -> bool {
        self.flags & f == f
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let t = match self.typ {
            DATA => "Data",
            WU => "WU",
            PING => "Ping",
            GOAWAY => "GoAway",
            _ => "?",
        };
        write!(f, "{t}")?;
        for (bit, n) in [(SYN, "SYN"), (ACK, "ACK"), (FIN, "FIN"), (RST, "RST")] {
            if self.flags & bit != 0 {
                write!(f, "|{n}")?;
            }
        }
        write!(f, "(id {}, len {})", self.id, self.len)
    }
}

/// Every frame header that crossed the transport, in order per direction.
#[derive(Default)]
pub struct Tap {
    frames: Mutex<Vec<Frame>>,
    /// The peer closed its side of the transport (we read EOF).
    rx_eof: AtomicBool,
}

impl Tap {
    pub fn rx_eof(&self) -> bool {
        self.rx_eof.load(Ordering::SeqCst)
    }
    /// Waits until the peer closed its side, at most d.
    pub async fn wait_eof(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while !self.rx_eof() {
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        true
    }
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().unwrap().clone()
    }
    pub fn find(&self, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        self.frames.lock().unwrap().iter().find(|f| pred(f)).copied()
    }
    pub fn count(&self, pred: impl Fn(&Frame) -> bool) -> usize {
        self.frames.lock().unwrap().iter().filter(|f| pred(f)).count()
    }
    /// Waits (polling) until a frame matching pred was seen.
    pub async fn wait(&self, d: Duration, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let end = Instant::now() + d;
        loop {
            if let Some(f) = self.find(&pred) {
                return Some(f);
            }
            if Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Incremental frame header decoder for one direction.
#[derive(Default)]
struct Decoder {
    hdr: [u8; 12],
    have: usize,
    skip: u64,
}

impl Decoder {
    fn feed(&mut self, mut b: &[u8], rx: bool, tap: &Tap) {
        while !b.is_empty() {
            if self.skip > 0 {
                let k = (self.skip.min(b.len() as u64)) as usize;
                self.skip -= k as u64;
                b = &b[k..];
                continue;
            }
            let k = (12 - self.have).min(b.len());
            self.hdr[self.have..self.have + k].copy_from_slice(&b[..k]);
            self.have += k;
            b = &b[k..];
            if self.have == 12 {
                self.have = 0;
                let h = &self.hdr;
                let f = Frame {
                    rx,
                    typ: h[1],
                    flags: u16::from_be_bytes([h[2], h[3]]),
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
                    at: Instant::now(),
                };
                if f.typ == DATA {
                    self.skip = f.len as u64;
                }
                tap.frames.lock().unwrap().push(f);
            }
        }
    }
}

/// Shared between the Io (owned by yamux) and the scenario runner.
#[derive(Default)]
pub struct Ctl {
    /// Close both directions at once instead of half-close + drain.
    pub abrupt: AtomicBool,
}

type BoxRead = Pin<Box<dyn TokioRead + Send>>;
type BoxWrite = Pin<Box<dyn TokioWrite + Send>>;

pub struct Io {
    r: Option<BoxRead>,
    w: Option<BoxWrite>,
    tap: Arc<Tap>,
    rxd: Decoder,
    txd: Decoder,
    trace: Option<(File, File)>,
    ctl: Arc<Ctl>,
}

impl Io {
    fn new(r: BoxRead, w: BoxWrite, trace: Option<(File, File)>) -> Io {
        Io {
            r: Some(r),
            w: Some(w),
            tap: Arc::default(),
            rxd: Decoder::default(),
            txd: Decoder::default(),
            trace,
            ctl: Arc::default(),
        }
    }
    pub fn tap(&self) -> Arc<Tap> {
        self.tap.clone()
    }
    pub fn ctl(&self) -> Arc<Ctl> {
        self.ctl.clone()
    }
}

impl futures::io::AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(r) = this.r.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        let n = futures::ready!(rust_yamux_peer::poll_read(r.as_mut(), cx, buf))?;
        let got = &buf[..n];
        if got.is_empty() && !buf.is_empty() {
            this.tap.rx_eof.store(true, Ordering::SeqCst);
        }
        this.rxd.feed(got, true, &this.tap);
        if let Some((_, rx)) = this.trace.as_mut() {
            let _ = rx.write_all(got);
        }
        Poll::Ready(Ok(n))
    }
}

impl futures::io::AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(w) = this.w.as_mut() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        match w.as_mut().poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.txd.feed(&buf[..n], false, &this.tap);
                if let Some((tx, _)) = this.trace.as_mut() {
                    let _ = tx.write_all(&buf[..n]);
                }
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.w.as_mut() {
            Some(w) => w.as_mut().poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// yamux closes the socket after its Go Away: half-close (a child's stdin
    /// is closed by dropping it).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(w) = self.w.as_mut() {
            let r = futures::ready!(w.as_mut().poll_shutdown(cx));
            self.w = None;
            return Poll::Ready(r);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        self.w = None;
        if let Some(mut r) = self.r.take() {
            if !self.ctl.abrupt.load(Ordering::SeqCst) {
                // Keep reading so the peer never blocks or gets EPIPE on its
                // way out; give up after 10 s. What it still sends is
                // recorded too (the frames after our Go Away).
                let tap = self.tap.clone();
                let mut rxd = std::mem::take(&mut self.rxd);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let end = tokio::time::Instant::now() + Duration::from_secs(10);
                    while let Ok(res) = tokio::time::timeout_at(end, r.read(&mut buf)).await {
                        match res {
                            Ok(0) | Err(_) => {
                                tap.rx_eof.store(true, Ordering::SeqCst);
                                break;
                            }
                            Ok(n) => rxd.feed(&buf[..n], true, &tap),
                        }
                    }
                });
            }
        }
    }
}

/// A spawned peer program.
pub struct Proc {
    pid: i32,
    waiter: Option<JoinHandle<io::Result<ExitStatus>>>,
    status: Option<ExitStatus>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_task: Option<JoinHandle<()>>,
}

fn spawn(cmdline: &str, stdio: bool, verbose: bool) -> io::Result<(Proc, Option<(BoxRead, BoxWrite)>)> {
    // exec: the shell becomes the program, so signals and exit status are the
    // program's own.
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(format!("exec {cmdline}"));
    cmd.stderr(Stdio::piped());
    if stdio {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().map(|p| p as i32).unwrap_or(-1);
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut err_pipe = child.stderr.take().expect("stderr piped");
    let sink = stderr.clone();
    let stderr_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = err_pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
            if verbose {
                let _ = io::stderr().write_all(&buf[..n]);
            }
        }
    });
    let pipes = if stdio {
        let w: BoxWrite = Box::pin(child.stdin.take().expect("stdin piped"));
        let r: BoxRead = Box::pin(child.stdout.take().expect("stdout piped"));
        Some((r, w))
    } else {
        None
    };
    let waiter = tokio::spawn(async move { child.wait().await });
    Ok((
        Proc {
            pid,
            waiter: Some(waiter),
            status: None,
            stderr,
            stderr_task: Some(stderr_task),
        },
        pipes,
    ))
}

impl Proc {
    /// Waits up to d for the child to exit.
    pub async fn exited(&mut self, d: Duration) -> bool {
        if self.status.is_some() {
            return true;
        }
        let Some(w) = self.waiter.as_mut() else {
            return true;
        };
        match tokio::time::timeout(d, w).await {
            Ok(Ok(Ok(st))) => {
                self.status = Some(st);
                self.waiter = None;
                // stderr reaches EOF with the exit: collect the last line.
                if let Some(t) = self.stderr_task.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
                }
                true
            }
            Ok(_) => {
                self.waiter = None;
                true
            }
            Err(_) => false,
        }
    }

    pub async fn kill(&mut self) {
        if self.status.is_some() || self.pid <= 0 {
            return;
        }
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        if !self.exited(Duration::from_secs(2)).await {
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.exited(Duration::from_secs(2)).await;
        }
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.stderr.lock().unwrap())
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.to_string())
            .collect()
    }

    /// How the child ended: (code, signaled, "exit=0" | "signal=...").
    pub fn exit_desc(&self) -> (i32, bool, String) {
        use std::os::unix::process::ExitStatusExt;
        match self.status {
            None => (-1, false, "running".into()),
            Some(st) => {
                if let Some(sig) = st.signal() {
                    (-1, true, format!("signal={}", signame(sig)))
                } else {
                    let c = st.code().unwrap_or(-1);
                    (c, false, format!("exit={c}"))
                }
            }
        }
    }
}

fn signame(sig: i32) -> String {
    match sig {
        libc::SIGSEGV => "segmentation fault".into(),
        libc::SIGABRT => "aborted".into(),
        libc::SIGPIPE => "broken pipe".into(),
        libc::SIGKILL => "killed".into(),
        libc::SIGTERM => "terminated".into(),
        libc::SIGBUS => "bus error".into(),
        libc::SIGILL => "illegal instruction".into(),
        libc::SIGFPE => "floating point exception".into(),
        n => format!("signal {n}"),
    }
}

/// The transport for one scenario.
pub struct Conn {
    pub io: Option<Io>,
    pub tap: Arc<Tap>,
    pub ctl: Arc<Ctl>,
    pub proc: Option<Proc>,
    /// The child is a --listen server: it never exits alone.
    pub listen_mode: bool,
}

pub struct Dialer {
    pub transport: String,
    pub cmd: String,
    pub addr: String,
    pub verbose: bool,
    pub trace: String,
    trace_seq: u32,
    listener: Option<TcpListener>,
}

impl Dialer {
    pub fn new(transport: String, cmd: String, addr: String, verbose: bool, trace: String) -> Self {
        Dialer { transport, cmd, addr, verbose, trace, trace_seq: 0, listener: None }
    }

    fn trace_files(&mut self) -> Option<(File, File)> {
        if self.trace.is_empty() {
            return None;
        }
        self.trace_seq += 1;
        let tx = File::create(format!("{}.{}.tx", self.trace, self.trace_seq)).ok()?;
        let rx = File::create(format!("{}.{}.rx", self.trace, self.trace_seq)).ok()?;
        Some((tx, rx))
    }

    fn conn(&mut self, r: BoxRead, w: BoxWrite, proc: Option<Proc>, listen_mode: bool) -> Conn {
        let io = Io::new(r, w, self.trace_files());
        Conn { tap: io.tap(), ctl: io.ctl(), io: Some(io), proc, listen_mode }
    }

    /// Opens the transport for one scenario; extra is appended to the spawned
    /// command line.
    pub async fn dial(&mut self, extra: &str) -> Result<Conn, String> {
        let mut cmdline = self.cmd.clone();
        if !extra.is_empty() {
            cmdline = format!("{cmdline} {extra}");
        }
        match self.transport.as_str() {
            "stdio-spawn" => {
                if self.cmd.is_empty() {
                    return Err("stdio-spawn needs --cmd".into());
                }
                let (proc, pipes) = spawn(&cmdline, true, self.verbose).map_err(|e| e.to_string())?;
                let (r, w) = pipes.unwrap();
                Ok(self.conn(r, w, Some(proc), false))
            }
            "tcp-connect" => {
                let mut addr = self.addr.clone();
                let mut proc = None;
                if !self.cmd.is_empty() {
                    if addr.ends_with(":0") {
                        let l = std::net::TcpListener::bind(&addr).map_err(|e| e.to_string())?;
                        addr = l.local_addr().map_err(|e| e.to_string())?.to_string();
                    }
                    let (p, _) = spawn(&cmdline.replace("{addr}", &addr), false, self.verbose)
                        .map_err(|e| e.to_string())?;
                    proc = Some(p);
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                let sock = loop {
                    match TcpStream::connect(&addr).await {
                        Ok(s) => break s,
                        Err(e) => {
                            if Instant::now() > deadline {
                                if let Some(p) = proc.as_mut() {
                                    p.kill().await;
                                }
                                return Err(e.to_string());
                            }
                            if let Some(p) = proc.as_mut() {
                                if p.exited(Duration::ZERO).await {
                                    let (_, _, d) = p.exit_desc();
                                    return Err(format!(
                                        "listener died before accepting ({d}: {})",
                                        p.stderr_lines().join(" | ")
                                    ));
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                };
                let _ = sock.set_nodelay(true);
                let (r, w) = sock.into_split();
                let listen_mode = proc.is_some();
                Ok(self.conn(Box::pin(r), Box::pin(w), proc, listen_mode))
            }
            "tcp-listen" => {
                if self.listener.is_none() {
                    let l = TcpListener::bind(&self.addr).await.map_err(|e| e.to_string())?;
                    self.listener = Some(l);
                }
                let laddr = self.listener.as_ref().unwrap().local_addr().map_err(|e| e.to_string())?;
                let mut proc = None;
                if !self.cmd.is_empty() {
                    let (p, _) = spawn(&cmdline.replace("{addr}", &laddr.to_string()), false, self.verbose)
                        .map_err(|e| e.to_string())?;
                    proc = Some(p);
                }
                let l = self.listener.as_ref().unwrap();
                match tokio::time::timeout(Duration::from_secs(10), l.accept()).await {
                    Ok(Ok((sock, _))) => {
                        let _ = sock.set_nodelay(true);
                        let (r, w) = sock.into_split();
                        Ok(self.conn(Box::pin(r), Box::pin(w), proc, false))
                    }
                    res => {
                        if let Some(p) = proc.as_mut() {
                            p.kill().await;
                        }
                        Err(match res {
                            Ok(Err(e)) => e.to_string(),
                            _ => "no connection within 10s".into(),
                        })
                    }
                }
            }
            t => Err(format!("unknown transport {t:?}")),
        }
    }
}
