// W9, many sessions (bench/README.md), as bench/go/w9.go: the client holds
// -sessions TCP connections, each a rust-yamux session (one task driving
// it, src/session.rs) with one stream; the server accepts them all on
// tokio's multi-thread runtime (one worker per core), a task per session
// accepting its streams and one per stream echoing. The client reads the
// server's RSS and CPU time from /proc/<pid>.
//
// Keepalive: rust-yamux 0.14 has none (it answers pings, and sends its own
// RTT pings only while the connection is polled for traffic), so nothing
// pings during the idle phase here; the RESULT line says so
// (config=keepalive:none).
//
// The server reads commands on its stdin: "SETTLE" (answered "SETTLED"; no
// garbage to collect) and EOF, which ends it.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use yamux::Stream;

use crate::session::{Io, Session};
use crate::workloads::{percentiles, round_trip};
use crate::{die, f0, f1, f6, opt, print_result};

const SETTLE: Duration = Duration::from_secs(2);

fn config() -> yamux::Config {
    let _ = crate::set_config("keepalive:none".into());
    yamux::Config::default()
}

/// One descriptor per session and some to spare, up to the hard limit.
pub fn raise_nofile() {
    let need = opt().sessions as u64 + 64;
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        die(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if rl.rlim_cur >= need {
        return;
    }
    if rl.rlim_max < need {
        die(format!(
            "-sessions={} needs {need} open files in each process, but the hard limit \
             (RLIMIT_NOFILE, ulimit -Hn) is {}: raise it or use fewer sessions",
            opt().sessions,
            rl.rlim_max
        ));
    }
    rl.rlim_cur = need;
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        die(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
}

fn proc_rss(pid: u32) -> i64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| die(format!("/proc/{pid}/status: {e}")));
    for l in s.lines() {
        let mut f = l.split_whitespace();
        if f.next() == Some("VmRSS:") {
            return f.next().and_then(|k| k.parse::<i64>().ok()).unwrap_or(0) * 1024;
        }
    }
    die(format!("no VmRSS for {pid}"))
}

/// CPU time of every thread of the process in ns (schedstat's run time), as
/// bench/w9.c reads it.
fn proc_cpu(pid: u32) -> i64 {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|e| die(format!("/proc/{pid}/task: {e}")));
    let mut sum = 0i64;
    for e in dir.flatten() {
        // A thread that ended meanwhile is skipped.
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            sum += s.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0);
        }
    }
    sum
}

// ---- server --------------------------------------------------------------------

pub async fn server() {
    // The backlog the C and Go servers get (the kernel caps it at
    // net.core.somaxconn), not mio's 128, which 256 connects at once
    // overflow (SYNs dropped, retried after 1 s).
    let sock = TcpSocket::new_v4().unwrap_or_else(|e| die(format!("socket: {e}")));
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap_or_else(|e| die(format!("bind: {e}")));
    let ln = sock.listen(65535).unwrap_or_else(|e| die(format!("listen: {e}")));
    println!("PORT {}", ln.local_addr().unwrap().port());
    std::thread::spawn(|| {
        for l in std::io::stdin().lines() {
            match l {
                Ok(l) if l == "SETTLE" => println!("SETTLED"),
                Ok(l) => die(format!("unexpected command {l:?}")),
                Err(_) => break,
            }
        }
        std::process::exit(0); // EOF: the client is done
    });
    loop {
        let (sock, _) = ln.accept().await.unwrap_or_else(|e| die(format!("accept: {e}")));
        tokio::spawn(serve_session(sock));
    }
}

async fn serve_session(sock: TcpStream) {
    sock.set_nodelay(true).unwrap_or_else(|e| die(format!("nodelay: {e}")));
    let (r, w) = sock.into_split();
    let mut s = Session::new(Io::new(Box::pin(r), Box::pin(w)), config(), false);
    while let Some(st) = s.accept().await {
        tokio::spawn(echo(st));
    }
}

/// Echoes until EOF with a buffer of one message, as the Go server does.
async fn echo(mut st: Stream) {
    let mut buf = vec![0u8; opt().msg];
    loop {
        match st.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if st.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = st.close().await;
}

// ---- client --------------------------------------------------------------------

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

async fn read_line(out: &mut Lines) -> String {
    match out.next_line().await {
        Ok(Some(l)) => l.trim().to_string(),
        _ => die("the server's stdout ended"),
    }
}

pub async fn client() {
    let o = opt();
    let me = std::env::current_exe().unwrap_or_else(|e| die(format!("executable: {e}")));
    let mut cmd = tokio::process::Command::new(me);
    cmd.args(std::env::args().skip(1)).arg("-role=server");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    // The child dies with us (a killed client must not leave it running).
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| die(format!("spawn: {e}")));
    let mut ctl = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let l = read_line(&mut out).await;
    let port: u16 = l
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| die(format!("bad port line {l:?}")));
    let addr = format!("127.0.0.1:{port}");
    let (srv, me) = (child.id().unwrap(), std::process::id());
    let n = o.sessions;
    let busy = o.busy.min(n);
    let (srv_rss0, rss0) = (proc_rss(srv), proc_rss(me));

    // Establish every session: connect, session, stream, one round trip.
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..o.inflight.min(n) {
        let (next, addr) = (next.clone(), addr.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let (msg, mut buf) = (vec![0u8; opt().msg], vec![0u8; opt().msg]);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= opt().sessions {
                    return mine;
                }
                let sock = TcpStream::connect(addr.as_str())
                    .await
                    .unwrap_or_else(|e| die(format!("connect: {e}")));
                sock.set_nodelay(true).unwrap_or_else(|e| die(format!("nodelay: {e}")));
                let (r, w) = sock.into_split();
                let s = Session::new(Io::new(Box::pin(r), Box::pin(w)), config(), true);
                let mut st = s.open().await.unwrap_or_else(|e| die(e));
                round_trip(&mut st, &msg, &mut buf).await;
                mine.push((i, s, st));
            }
        }));
    }
    let mut sessions: Vec<Option<(Session, Stream)>> = (0..n).map(|_| None).collect();
    for w in workers {
        for (i, s, st) in w.await.unwrap_or_else(|e| die(format!("worker: {e}"))) {
            sessions[i] = Some((s, st));
        }
    }
    let established = Instant::now();
    let connect_secs = (established - t0).as_secs_f64();

    // Settle, then idle.
    ctl.write_all(b"SETTLE\n").await.unwrap_or_else(|e| die(format!("server stdin: {e}")));
    let l = read_line(&mut out).await;
    if l != "SETTLED" {
        die(format!("unexpected line from the server {l:?}"));
    }
    tokio::time::sleep_until((established + SETTLE).into()).await;
    let (srv_rss1, rss1) = (proc_rss(srv), proc_rss(me));
    let (srv_cpu0, cpu0) = (proc_cpu(srv), proc_cpu(me));
    let ti = Instant::now();
    tokio::time::sleep(Duration::from_millis(o.idle)).await;
    let (srv_cpu1, cpu1) = (proc_cpu(srv), proc_cpu(me));
    let idle_secs = ti.elapsed().as_secs_f64();

    // Busy: the first -busy sessions, count/busy round trips each.
    let start = Arc::new(tokio::sync::Barrier::new(busy + 1));
    let mut tasks = Vec::new();
    for (i, slot) in sessions.iter_mut().take(busy).enumerate() {
        let (s, st) = slot.take().unwrap();
        let k = o.count / busy + usize::from(i < o.count % busy);
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let (msg, mut buf) = (vec![0u8; opt().msg], vec![0u8; opt().msg]);
            let mut st = st;
            let mut lat = Vec::with_capacity(k);
            start.wait().await;
            for _ in 0..k {
                let t = Instant::now();
                round_trip(&mut st, &msg, &mut buf).await;
                lat.push(t.elapsed().as_nanos() as u64);
            }
            (s, st, lat)
        }));
    }
    start.wait().await;
    let tb = Instant::now();
    let mut lat = Vec::with_capacity(o.count);
    let mut back = Vec::new();
    for t in tasks {
        let (s, st, l) = t.await.unwrap_or_else(|e| die(format!("busy task: {e}")));
        lat.extend(l);
        back.push((s, st));
    }
    let busy_secs = tb.elapsed().as_secs_f64();

    // Teardown (not timed): close every session, then the server's stdin.
    let closing: Vec<_> = back
        .iter()
        .map(|(s, _)| s)
        .chain(sessions.iter().flatten().map(|(s, _)| s))
        .filter_map(|s| s.opener.start_close().ok())
        .collect();
    let _ = tokio::time::timeout(o.exitwait, futures::future::join_all(closing)).await;
    drop(ctl);
    match tokio::time::timeout(o.exitwait, child.wait()).await {
        Ok(Ok(st)) if st.success() => {}
        Ok(Ok(st)) => die(format!("server: {st}")),
        Ok(Err(e)) => die(format!("wait: {e}")),
        Err(_) => die(format!("the server did not exit within {:?}", o.exitwait)),
    }
    let p = percentiles(&lat);
    let nf = n as f64;
    print_result(&[
        ("sessions", n.to_string()),
        ("busy", busy.to_string()),
        ("count", o.count.to_string()),
        ("msg", o.msg.to_string()),
        ("connect_secs", f6(connect_secs)),
        ("server_rss_per_session", f1((srv_rss1 - srv_rss0) as f64 / nf)),
        ("client_rss_per_session", f1((rss1 - rss0) as f64 / nf)),
        ("idle_cpu_pct", format!("{:.2}", (srv_cpu1 - srv_cpu0) as f64 / 1e9 / idle_secs * 100.0)),
        ("client_idle_cpu_pct", format!("{:.2}", (cpu1 - cpu0) as f64 / 1e9 / idle_secs * 100.0)),
        ("idle_secs", format!("{idle_secs:.3}")),
        ("secs", f6(busy_secs)),
        ("rtt_per_s", f0(o.count as f64 / busy_secs)),
        ("p50_us", f1(p.p50)),
        ("p99_us", f1(p.p99)),
        ("max_us", f1(p.max)),
    ]);
}
