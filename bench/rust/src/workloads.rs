// The workloads, client and server side, mirroring bench/go/workloads.go.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use yamux::Stream;

use crate::session::{Opener, Session};
use crate::{die, f0, f1, f6, opt, print_result, spawn_and_connect, ChildProc, MIB};

type Kv = Vec<(&'static str, String)>;

pub async fn run_client() {
    let (mut c, sess) = spawn_and_connect().await;
    if opt().w == "W6" {
        client_idle(&mut c, sess).await;
        return;
    }
    let o = sess.opener.clone();
    let mut kv = match opt().w.as_str() {
        "W1" | "W1pin" | "W2" | "W2pin" => client_bulk(&o).await,
        "W3" => client_fanout(&o).await,
        "W4" => client_rpc(&o).await,
        "W5" => client_spr(&o).await,
        "W7" | "W7p" | "W8lat" => client_hol(&o).await,
        "W8" | "W8x8" | "W8r100" | "W8m" => crate::wan::client_bulk(&o).await,
        _ => unreachable!(),
    };
    // Teardown (not timed): end the session, the server exits.
    let _ = sess.close().await;
    if !c.wait(opt().exitwait).await {
        eprintln!("rustbench: server did not exit within {:?}, killed", opt().exitwait);
        kv.push(("server_exit", "killed".into()));
    }
    if crate::is_wan_bulk() {
        kv.extend(crate::wan::rx_keys(&mut c).await);
    }
    print_result(&kv);
}

pub async fn run_server() {
    let mut sess = crate::server_session().await;
    if opt().w == "W6" {
        serve_idle(sess).await;
        return;
    }
    let mut n = 0;
    let mut handlers = Vec::new();
    while let Some(st) = sess.accept().await {
        n += 1;
        handlers.push(tokio::spawn(serve_stream(n, st)));
    }
    // The client ended the session. Handlers still blocked on a stream of
    // the dead session are left behind (the runtime is shut down).
    drop(handlers);
    let _ = sess.close().await;
}

/// The server's handler for the n-th accepted stream (from 1).
async fn serve_stream(n: usize, mut st: Stream) {
    let o = opt();
    match o.w.as_str() {
        "W1" | "W1pin" | "W2" | "W2pin" => {
            let mut buf = vec![0u8; 65536];
            let mut left = o.size;
            while left > 0 {
                let k = (buf.len() as u64).min(left) as usize;
                match st.read(&mut buf[..k]).await {
                    Ok(0) => die(format!("bulk read: EOF with {left} bytes left")),
                    Ok(m) => left -= m as u64,
                    Err(e) => die(format!("bulk read: {e}")),
                }
            }
            // Write errors are not checked: the client checks what it gets.
            let _ = st.write_all(&[1]).await;
            drain(&mut st, &mut buf).await; // until the client's close
        }
        "W3" | "W4" => echo(&mut st).await,
        "W8" | "W8x8" | "W8r100" | "W8m" => crate::wan::serve_bulk(&mut st).await,
        "W5" => {
            let mut req = vec![0u8; o.msg];
            if let Err(e) = st.read_exact(&mut req).await {
                die(format!("request read: {e}"));
            }
            let _ = st.write_all(resp_buf()).await;
        }
        "W7" | "W7p" | "W8lat" => {
            if n == 1 {
                // Stream A: bulk sink, acks the client's end of data.
                let mut buf = vec![0u8; 65536];
                drain(&mut st, &mut buf).await;
                let _ = st.write_all(&[1]).await;
            } else {
                echo(&mut st).await;
            }
        }
        _ => {}
    }
    let _ = st.close().await;
}

fn resp_buf() -> &'static [u8] {
    static R: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    R.get_or_init(|| vec![0u8; opt().resp])
}

async fn drain(st: &mut Stream, buf: &mut [u8]) {
    while let Ok(n) = st.read(buf).await {
        if n == 0 {
            return;
        }
    }
}

/// Writes back whatever it reads until EOF.
async fn echo(st: &mut Stream) {
    let mut buf = [0u8; 4096];
    loop {
        match st.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if st.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

pub async fn open(o: &Opener) -> Stream {
    o.open().await.unwrap_or_else(|e| die(e))
}

// ---- W1/W2 bulk ------------------------------------------------------------

/// Writes size bytes of pattern in writes of at most its length.
pub async fn write_bytes(st: &mut Stream, pattern: &[u8], size: u64) {
    let mut sent = 0u64;
    while sent < size {
        let n = (pattern.len() as u64).min(size - sent) as usize;
        if let Err(e) = st.write_all(&pattern[..n]).await {
            die(format!("write: {e}"));
        }
        sent += n as u64;
    }
}

async fn client_bulk(o: &Opener) -> Kv {
    let size = opt().size;
    let chunk = opt().chunk;
    let mut st = open(o).await;
    let pattern = vec![b'x'; chunk];
    let mut ack = [0u8; 1];
    let t0 = Instant::now();
    write_bytes(&mut st, &pattern, size).await;
    if let Err(e) = st.read_exact(&mut ack).await {
        die(format!("reading the ack: {e}"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = st.close().await;
    vec![
        ("size", size.to_string()),
        ("chunk", chunk.to_string()),
        ("secs", f6(secs)),
        ("mibps", f1(size as f64 / secs / MIB)),
    ]
}

// ---- W3 fan-out echo -------------------------------------------------------

/// Released together: every task waits for the flag (W3 and W4 start).
#[derive(Clone)]
struct Start(tokio::sync::watch::Receiver<bool>);

impl Start {
    async fn wait(mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

async fn client_fanout(o: &Opener) -> Kv {
    let n = opt().streams;
    let msg = opt().msg;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let ready = Arc::new(AtomicUsize::new(0));
    let failed: Arc<Mutex<Option<String>>> = Arc::default();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (o, start, ready, failed) =
            (o.clone(), Start(rx.clone()), ready.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let data = vec![0u8; msg];
            let mut buf = vec![0u8; msg];
            ready.fetch_add(1, Ordering::SeqCst);
            start.wait().await;
            let r = async {
                let mut st = o.open().await?;
                st.write_all(&data).await.map_err(|e| e.to_string())?;
                st.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
                st.close().await.map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            }
            .await;
            if let Err(e) = r {
                *failed.lock().unwrap() = Some(e);
            }
        }));
    }
    while ready.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let t0 = Instant::now();
    let _ = tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = failed.lock().unwrap().take() {
        die(format!("a stream failed: {e}"));
    }
    vec![("streams", n.to_string()), ("msg", msg.to_string()), ("secs", f6(secs))]
}

// ---- W4 rpc ------------------------------------------------------------------

pub async fn round_trip(st: &mut Stream, msg: &[u8], buf: &mut [u8]) {
    if let Err(e) = st.write_all(msg).await {
        die(format!("write: {e}"));
    }
    if let Err(e) = st.read_exact(buf).await {
        die(format!("read: {e}"));
    }
}

pub struct Pct {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Percentiles (nearest rank) of durations in ns, returned in µs.
pub fn percentiles(ns: &[u64]) -> Pct {
    let mut s = ns.to_vec();
    s.sort_unstable();
    let at = |q: f64| {
        let i = ((q * s.len() as f64 + 0.999999) as usize).max(1) - 1;
        s[i] as f64 / 1e3
    };
    Pct { p50: at(0.50), p99: at(0.99), max: *s.last().unwrap() as f64 / 1e3 }
}

async fn client_rpc(o: &Opener) -> Kv {
    let (n, count, msg) = (opt().streams, opt().count, opt().msg);
    let data = vec![0u8; msg];
    let mut sts = Vec::with_capacity(n);
    for _ in 0..n {
        let mut st = open(o).await;
        round_trip(&mut st, &data, &mut vec![0u8; msg]).await; // warm-up, untimed
        sts.push(st);
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::with_capacity(n);
    for (i, mut st) in sts.into_iter().enumerate() {
        let k = count / n + usize::from(i < count % n);
        let start = Start(rx.clone());
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; msg];
            let mut lat = Vec::with_capacity(k);
            start.wait().await;
            for _ in 0..k {
                let t = Instant::now();
                round_trip(&mut st, &data, &mut buf).await;
                lat.push(t.elapsed().as_nanos() as u64);
            }
            (st, lat)
        }));
    }
    // Let every task reach its wait before the clock starts.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let t0 = Instant::now();
    let _ = tx.send(true);
    let mut lat = Vec::with_capacity(count);
    let mut sts = Vec::with_capacity(n);
    for t in tasks {
        let (st, l) = t.await.unwrap_or_else(|e| die(e));
        lat.extend(l);
        sts.push(st);
    }
    let secs = t0.elapsed().as_secs_f64();
    for mut st in sts {
        let _ = st.close().await;
    }
    let p = percentiles(&lat);
    vec![
        ("streams", n.to_string()),
        ("count", count.to_string()),
        ("msg", msg.to_string()),
        ("secs", f6(secs)),
        ("rtt_per_s", f0(count as f64 / secs)),
        ("p50_us", f1(p.p50)),
        ("p99_us", f1(p.p99)),
        ("max_us", f1(p.max)),
    ]
}

// ---- W5 stream per request -------------------------------------------------

async fn client_spr(o: &Opener) -> Kv {
    let (workers, count, msg, resp) = (opt().streams, opt().count, opt().msg, opt().resp);
    let next = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (o, next, start) = (o.clone(), next.clone(), Start(rx.clone()));
        tasks.push(tokio::spawn(async move {
            let data = vec![0u8; msg];
            let mut buf = vec![0u8; resp + 1];
            start.wait().await;
            while next.fetch_add(1, Ordering::SeqCst) < count {
                let mut st = open(&o).await;
                if let Err(e) = st.write_all(&data).await {
                    die(format!("write: {e}"));
                }
                let mut got = 0;
                loop {
                    match st.read(&mut buf[got..]).await {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) => die(format!("read: {e}")),
                    }
                    if got > resp {
                        die(format!("response longer than {resp}"));
                    }
                }
                if got != resp {
                    die(format!("response of {got} bytes, want {resp}"));
                }
                let _ = st.close().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let t0 = Instant::now();
    let _ = tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let secs = t0.elapsed().as_secs_f64();
    vec![
        ("count", count.to_string()),
        ("streams", workers.to_string()),
        ("msg", msg.to_string()),
        ("resp", resp.to_string()),
        ("secs", f6(secs)),
        ("req_per_s", f0(count as f64 / secs)),
    ]
}

// ---- W7 head-of-line -----------------------------------------------------------

async fn client_hol(o: &Opener) -> Kv {
    let (count, msg, chunk) = (opt().count, opt().msg, opt().chunk);
    let mut a = open(o).await;
    let bulk_bytes = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let bulk = {
        let (bulk_bytes, stop) = (bulk_bytes.clone(), stop.clone());
        tokio::spawn(async move {
            let pattern = vec![0u8; chunk];
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = a.write_all(&pattern).await {
                    die(format!("bulk write: {e}"));
                }
                bulk_bytes.fetch_add(chunk as i64, Ordering::Relaxed);
            }
            // End A (FIN) and wait until the server has read all of it, so
            // that the idle phase really has no bulk traffic.
            if let Err(e) = a.close().await {
                die(format!("bulk close: {e}"));
            }
            let mut ack = [0u8; 1];
            if let Err(e) = a.read_exact(&mut ack).await {
                die(format!("bulk ack: {e}"));
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(opt().warmup)).await; // bulk warm-up
    let mut b = open(o).await;
    let data = vec![0u8; msg];
    let mut buf = vec![0u8; msg];
    round_trip(&mut b, &data, &mut buf).await; // warm-up, untimed
    let mut lat = Vec::with_capacity(count);
    let b0 = bulk_bytes.load(Ordering::Relaxed);
    let t0 = Instant::now();
    for _ in 0..count {
        // W8lat's loaded phase ends after 60 s (count= says how many were
        // done), as in bench/go and bench/bench.c.
        if crate::is_wan() && t0.elapsed() > Duration::from_secs(60) {
            break;
        }
        let t = Instant::now();
        round_trip(&mut b, &data, &mut buf).await;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let secs = t0.elapsed().as_secs_f64();
    let b1 = bulk_bytes.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    bulk.await.unwrap_or_else(|e| die(e));
    let mut idle = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        round_trip(&mut b, &data, &mut buf).await;
        idle.push(t.elapsed().as_nanos() as u64);
    }
    let _ = b.close().await;
    let (p, q) = (percentiles(&lat), percentiles(&idle));
    // W7 in microseconds; W8lat, across the emulated link, in ms.
    let wan = crate::is_wan();
    let f = |us: f64| {
        if wan {
            format!("{:.2}", us / 1e3)
        } else {
            f1(us)
        }
    };
    let k = |us: &'static str, ms: &'static str| if wan { ms } else { us };
    vec![
        ("count", lat.len().to_string()),
        ("msg", msg.to_string()),
        ("chunk", chunk.to_string()),
        ("secs", f6(secs)),
        (k("p50_us", "p50_ms"), f(p.p50)),
        (k("p99_us", "p99_ms"), f(p.p99)),
        (k("max_us", "max_ms"), f(p.max)),
        ("bulk_mibps", f1((b1 - b0) as f64 / secs / MIB)),
        (k("idle_p50_us", "idle_p50_ms"), f(q.p50)),
        (k("idle_p99_us", "idle_p99_ms"), f(q.p99)),
        (k("idle_max_us", "idle_max_ms"), f(q.max)),
        ("p99_ratio", format!("{:.2}", p.p99 / q.p99)),
    ]
}

// ---- W6 idle streams -----------------------------------------------------------

#[derive(Clone, Copy)]
struct Mem {
    rss: i64,
    heap: i64,
}

/// 200 ms, then VmRSS and glibc's heap in use. There is no GC to run; the
/// allocator's retained memory counts (as for the C library).
async fn settle() -> Mem {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mi = unsafe { libc::mallinfo2() };
    Mem { rss: vm_rss(), heap: (mi.uordblks + mi.hblkhd) as i64 }
}

pub fn vm_rss() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| die(e));
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            let kb: i64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            return kb * 1024;
        }
    }
    die("no VmRSS")
}

fn parse_mem(line: &str, tag: &str) -> Mem {
    fn bad(line: &str, tag: &str) -> ! {
        die(format!("bad line from the server {line:?} (want {tag})"))
    }
    let rest = line.strip_prefix(tag).unwrap_or_else(|| bad(line, tag));
    let mut m = Mem { rss: 0, heap: 0 };
    for t in rest.split_whitespace() {
        let (dst, v) = match t.split_once('=') {
            Some(("rss", v)) => (&mut m.rss, v),
            Some(("heap", v)) => (&mut m.heap, v),
            _ => bad(line, tag),
        };
        *dst = v.parse().unwrap_or_else(|_| bad(line, tag));
    }
    m
}

async fn serve_idle(mut sess: Session) {
    let (n, read) = (opt().streams, opt().mode == "read");
    let base = settle().await;
    println!("BASE rss={} heap={}", base.rss, base.heap);
    let mut held: Vec<Stream> = Vec::with_capacity(if read { 0 } else { n });
    let mut readers = Vec::with_capacity(if read { n } else { 0 });
    let mut got = 0;
    while got < n {
        let Some(mut st) = sess.accept().await else {
            die(format!("accept after {got}: session ended"));
        };
        got += 1;
        // rust-yamux sends the ACK only with the stream's first frame, and
        // the opener holds at most 256 un-ACKed streams: a 0-byte write
        // sends it (Data|ACK, length 0).
        if let Err(e) = st.write(&[]).await.and(st.flush().await) {
            die(format!("ack: {e}"));
        }
        if read {
            readers.push(tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(k) = st.read(&mut buf).await {
                    if k == 0 {
                        break;
                    }
                }
            }));
        } else {
            held.push(st);
        }
    }
    println!("ACCEPTED");
    let m = settle().await;
    println!("RSS rss={} heap={}", m.rss, m.heap);
    // Hold everything until the client ends the session.
    while sess.accept().await.is_some() {}
    let t = Instant::now();
    let _ = sess.close().await;
    drop(held);
    println!("CLOSED ms={:.3}", t.elapsed().as_secs_f64() * 1e3);
}

async fn client_idle(c: &mut ChildProc, sess: Session) {
    let (n, mode) = (opt().streams, opt().mode.clone());
    let base = settle().await;
    let sbase = parse_mem(&c.read_line().await, "BASE");
    let mut held = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let mut st = sess.open().await.unwrap_or_else(|e| die(format!("open {i}: {e}")));
        // rust-yamux opens lazily: the SYN goes with the first frame. A
        // 0-byte write sends it (Data|SYN, length 0) so that the server
        // learns of the stream without data.
        if let Err(e) = st.write(&[]).await.and(st.flush().await) {
            die(format!("syn {i}: {e}"));
        }
        held.push(st);
    }
    let open_secs = t0.elapsed().as_secs_f64();
    let l = c.read_line().await;
    if l != "ACCEPTED" {
        die(format!("unexpected line from the server {l:?}"));
    }
    let accepted_secs = t0.elapsed().as_secs_f64();
    let sm = parse_mem(&c.read_line().await, "RSS");
    let m = settle().await;
    let nf = n as f64;
    let mut kv: Kv = vec![
        ("streams", n.to_string()),
        ("mode", mode),
        ("client_rss_per_stream", f1((m.rss - base.rss) as f64 / nf)),
        ("server_rss_per_stream", f1((sm.rss - sbase.rss) as f64 / nf)),
        ("client_heap_per_stream", f1((m.heap - base.heap) as f64 / nf)),
        ("server_heap_per_stream", f1((sm.heap - sbase.heap) as f64 / nf)),
        ("open_secs", f6(open_secs)),
        ("accepted_secs", f6(accepted_secs)),
        ("open", "zero_len_write".into()),
    ];
    // Teardown: close the session with every stream open, wait for the
    // server to exit.
    let t1 = Instant::now();
    let _ = sess.close().await;
    let close_ms = t1.elapsed().as_secs_f64() * 1e3;
    let left = opt().exitwait.saturating_sub(t1.elapsed());
    let exited = c.wait(left).await;
    let tear = t1.elapsed().as_secs_f64();
    let mut srv_close = "-1".to_string();
    if let Ok(Some(l)) = c.out.as_mut().unwrap().next_line().await {
        if let Some(v) = l.trim().strip_prefix("CLOSED ms=") {
            srv_close = v.to_string();
        }
    }
    drop(held);
    kv.push(("close_ms", format!("{close_ms:.3}")));
    kv.push(("server_close_ms", srv_close));
    if exited {
        kv.push(("teardown_secs", f6(tear)));
    } else {
        kv.push(("teardown_secs", format!("KILLED>{}", opt().exitwait.as_secs_f64())));
    }
    print_result(&kv);
}
