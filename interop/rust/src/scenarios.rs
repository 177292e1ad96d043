// The scenarios: the library-level ones of interop/gopeer that rust-yamux
// can express, plus the ones only rust-yamux needs (lazy SYN, its un-ACKed
// open limit). Every transfer is checked byte for byte against the
// deterministic generator that produced it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{self, join_all};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use yamux::{Config, Stream};

use crate::session::Session;
use crate::transport::{Ctl, Frame, Io, Tap, ACK, DATA, FIN, GOAWAY, PING, RST, SYN, WU};
use crate::{Expect, Outcome, Peer, ScenResult, YAMUX_VERSION};

type Run = fn(Env) -> Pin<Box<dyn Future<Output = ScenResult>>>;

pub struct Scenario {
    pub name: &'static str,
    pub extra: Option<fn(&Peer) -> String>,
    pub expect: Expect,
    pub run: Run,
}

macro_rules! scen {
    ($name:expr, $f:ident) => {
        Scenario { name: $name, extra: None, expect: Expect::Zero, run: |e| Box::pin($f(e)) }
    };
    ($name:expr, $f:ident, $expect:expr) => {
        Scenario { name: $name, extra: None, expect: $expect, run: |e| Box::pin($f(e)) }
    };
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        scen!("open_echo", open_echo),
        scen!("concurrent_1000", concurrent_1000),
        scen!("bulk_256m", bulk_256m),
        scen!("big_window", big_window),
        scen!("halfclose_client_first", halfclose_client_first),
        scen!("halfclose_data_flowing", halfclose_data_flowing),
        scen!("reset", reset),
        scen!("ping", ping),
        Scenario {
            name: "keepalive",
            extra: Some(|p: &Peer| p.ka_args.clone()),
            expect: Expect::Zero,
            run: |e| Box::pin(keepalive(e)),
        },
        scen!("goaway", goaway),
        scen!("close_with_open_streams", close_with_open_streams),
        scen!("close_abrupt", close_abrupt, Expect::Clean),
        scen!("server_speaks_first", server_speaks_first),
        scen!("lazy_syn_edges", lazy_syn_edges),
        scen!("ack_backlog", ack_backlog),
        scen!("lazy_syn_late", lazy_syn_late),
    ]
}

/// What a scenario works with: one transport, for one session.
pub struct Env {
    pub client: bool,
    pub io: Option<Io>,
    pub tap: Arc<Tap>,
    pub ctl: Arc<Ctl>,
}

impl Env {
    fn session(&mut self, cfg: Config) -> Session {
        Session::new(self.io.take().expect("one session per scenario"), cfg, self.client)
    }
    /// The n-th stream id of our parity.
    fn our_id(&self, n: u32) -> u32 {
        if self.client {
            2 * n + 1
        } else {
            2 * n + 2
        }
    }
}

fn fail<T>(s: impl Into<String>) -> Result<T, Outcome> {
    Err(Outcome::Fail(s.into()))
}

async fn within<T>(d: Duration, what: &str, f: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(d, f).await.map_err(|_| format!("{what}: no progress in {d:?}"))
}

// ---- data: deterministic pseudo-random bytes -------------------------------

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills buf with the bytes at offset off of the stream for seed.
fn fill(seed: u64, off: u64, buf: &mut [u8]) {
    let key = mix(seed ^ 0x6c69_6279_6d75_78);
    let mut pos = off;
    let mut i = 0;
    while i < buf.len() {
        let within = (pos % 8) as usize;
        let v = mix(key ^ (pos / 8)).to_le_bytes();
        let k = (8 - within).min(buf.len() - i);
        buf[i..i + k].copy_from_slice(&v[within..within + k]);
        i += k;
        pos += k as u64;
    }
}

async fn send_data<W: AsyncWrite + Unpin>(
    w: &mut W,
    seed: u64,
    total: u64,
    chunk: usize,
    progress: Option<&AtomicU64>,
) -> Result<(), String> {
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    while off < total {
        let n = (chunk as u64).min(total - off) as usize;
        fill(seed, off, &mut buf[..n]);
        w.write_all(&buf[..n])
            .await
            .map_err(|e| format!("write after {off} bytes: {e}"))?;
        off += n as u64;
        if let Some(p) = progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Reads to EOF, checking every byte against the generator; returns the
/// count. slow: sleep after each read (a reader slower than the writer).
async fn recv_check<R: AsyncRead + Unpin>(
    r: &mut R,
    seed: u64,
    progress: Option<&AtomicU64>,
    slow: bool,
) -> Result<u64, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = r
            .read(&mut buf)
            .await
            .map_err(|e| format!("read after {off} bytes: {e}"))?;
        if n == 0 {
            return Ok(off);
        }
        fill(seed, off, &mut want[..n]);
        if buf[..n] != want[..n] {
            let i = (0..n).find(|&i| buf[i] != want[i]).unwrap();
            return Err(format!("echoed byte {} differs", off + i as u64));
        }
        off += n as u64;
        if let Some(p) = progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        if slow {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Sends size bytes on st and half-closes, while reading the echo to EOF.
async fn echo_stream(st: Stream, seed: u64, size: u64, progress: Option<&AtomicU64>) -> Result<(), String> {
    let id = st.id();
    let (mut r, mut w) = st.split();
    let wf = async {
        send_data(&mut w, seed, size, 64 * 1024, None).await?;
        w.close().await.map_err(|e| format!("close (FIN): {e}"))
    };
    let rf = recv_check(&mut r, seed, progress, false);
    let (wr, rr) = future::join(wf, rf).await;
    wr.map_err(|e| format!("stream {id}: {e}"))?;
    let n = rr.map_err(|e| format!("stream {id}: {e}"))?;
    if n != size {
        return Err(format!("stream {id}: echoed {n} bytes, sent {size}"));
    }
    Ok(())
}

fn mibps(n: u64, d: Duration) -> f64 {
    n as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn kind(f: &Frame) -> String {
    let s = f.to_string();
    s.split('(').next().unwrap_or("").to_string()
}

/// The frames the peer sent after our Go Away, in short.
fn after_goaway(tap: &Tap) -> String {
    let frames = tap.frames();
    let Some(ga) = frames.iter().rposition(|f| !f.rx && f.typ == GOAWAY) else {
        return "no Go Away sent".into();
    };
    let at = frames[ga].at;
    let later: Vec<&Frame> = frames.iter().filter(|f| f.rx && f.at > at).collect();
    let data: u64 = later.iter().filter(|f| f.typ == DATA).map(|f| f.len as u64).sum();
    let fins = later.iter().filter(|f| f.has(FIN)).count();
    let ga = later.iter().find(|f| f.typ == GOAWAY);
    let mut s = format!("after it the peer sent {} frames ({} KiB data, {} FIN)", later.len(), data >> 10, fins);
    if let Some(g) = ga {
        s += &format!(", its own Go Away({})", g.len);
    } else {
        s += ", no Go Away";
    }
    s
}

/// Our close: Go Away(0) must be the last frame we sent.
fn check_goaway_sent(tap: &Tap) -> Result<(), String> {
    let frames = tap.frames();
    match frames.iter().rev().find(|f| !f.rx) {
        Some(f) if f.typ == GOAWAY && f.len == 0 && f.id == 0 => Ok(()),
        Some(f) => Err(format!("last frame we sent is {f}, not GoAway(0)")),
        None => Err("we sent nothing".into()),
    }
}

async fn close_session(s: &Session, tap: &Tap) -> Result<(), String> {
    within(Duration::from_secs(10), "Connection::poll_close", s.close()).await??;
    check_goaway_sent(tap)
}

// ---- scenarios -------------------------------------------------------------

async fn open_echo(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let mut st = s.open().await?;
    let id = st.id().val();
    if id != e.our_id(0) {
        return fail(format!("stream id {id}, want {}", e.our_id(0)));
    }
    let msg = format!("hello from rust-yamux {YAMUX_VERSION}").into_bytes();
    let t = Duration::from_secs(10);
    within(t, "write", st.write_all(&msg)).await?.map_err(|e| format!("write: {e}"))?;
    let mut got = vec![0u8; msg.len()];
    within(t, "read echo (before our FIN)", st.read_exact(&mut got))
        .await?
        .map_err(|e| format!("read echo (before our FIN): {e}"))?;
    if got != msg {
        return fail(format!("echo {got:?}, want {msg:?}"));
    }
    within(t, "close", st.close()).await?.map_err(|e| format!("close (FIN): {e}"))?;
    let mut rest = Vec::new();
    within(t, "read to EOF after our FIN", st.read_to_end(&mut rest))
        .await?
        .map_err(|e| format!("read to EOF after our FIN: {e}"))?;
    if !rest.is_empty() {
        return fail(format!("{} unexpected bytes after the echo", rest.len()));
    }
    let syn = e.tap.find(|f| !f.rx && f.id == id).unwrap();
    let ack = e.tap.find(|f| f.rx && f.id == id && f.has(ACK));
    let fin = e.tap.find(|f| f.rx && f.id == id && f.has(FIN));
    if fin.is_none() {
        return fail("no FIN from the peer on the wire");
    }
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "stream {id} echoed {} bytes, FIN both ways; our SYN on {}, the peer's ACK on {}",
        msg.len(),
        kind(&syn),
        ack.map(|f| kind(&f)).unwrap_or_else(|| "nothing".into())
    ))
}

async fn concurrent_1000(mut e: Env) -> ScenResult {
    let mut cfg = Config::default();
    cfg.set_max_num_streams(1024); // default 512
    let s = e.session(cfg);
    const N: u64 = 1000;
    let sizes: Vec<u64> = (0..N).map(|i| 1 + mix(i ^ 0xc0ffee) % (1 << 20)).collect();
    let total: u64 = sizes.iter().sum();
    let start = Instant::now();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let op = s.opener.clone();
            let size = sizes[i as usize];
            tokio::spawn(async move {
                let st = op.open().await.map_err(|e| format!("open #{i}: {e}"))?;
                echo_stream(st, 1000 + i, size, None).await
            })
        })
        .collect();
    let mut first = None;
    let mut nerr = 0;
    for r in join_all(tasks).await {
        let r = r.unwrap_or_else(|e| Err(format!("task: {e}")));
        if let Err(err) = r {
            nerr += 1;
            first.get_or_insert(err);
        }
    }
    let d = start.elapsed();
    if let Some(f) = first {
        return fail(format!("{nerr} of {N} streams failed, first: {f}"));
    }
    let syns = e.tap.count(|f| !f.rx && f.typ != PING && f.has(SYN));
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "{N} streams at once (max_num_streams 1024), {:.1} MiB each way, all bytes ok, {:.0} MiB/s; {syns} SYNs",
        total as f64 / (1 << 20) as f64,
        mibps(total, d)
    ))
}

async fn bulk_256m(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let st = s.open().await?;
    let id = st.id().val();
    const SIZE: u64 = 256 << 20;
    let start = Instant::now();
    echo_stream(st, 7, SIZE, None).await?;
    let d = start.elapsed();
    let max_ours = e.tap.frames().iter().filter(|f| !f.rx && f.typ == WU && f.id == id).map(|f| f.len).max();
    let max_theirs = e.tap.frames().iter().filter(|f| f.rx && f.typ == WU && f.id == id).map(|f| f.len).max();
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "256 MiB echoed on one stream, all bytes ok, {:.0} MiB/s each way; largest WU delta ours {} KiB (rust auto-tunes its window), theirs {} KiB",
        mibps(SIZE, d),
        max_ours.unwrap_or(0) >> 10,
        max_theirs.unwrap_or(0) >> 10
    ))
}

async fn big_window(_e: Env) -> ScenResult {
    Err(Outcome::Skip(
        "rust-yamux has no initial-window setting: its SYN never carries a delta; its window \
         grows later by RTT auto-tuning (see bulk_256m's WU deltas)"
            .into(),
    ))
}

async fn halfclose_client_first(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let mut st = s.open().await?;
    const SIZE: u64 = 100 * 1024;
    let t = Duration::from_secs(20);
    // Fits in the peer's window: all written and FIN sent before we read.
    within(t, "write", send_data(&mut st, 3, SIZE, 16 * 1024, None)).await??;
    within(t, "close", st.close()).await?.map_err(|e| format!("close (FIN): {e}"))?;
    let n = within(t, "read after our FIN", recv_check(&mut st, 3, None, false)).await??;
    if n != SIZE {
        return fail(format!("got {n} bytes, want {SIZE}"));
    }
    close_session(&s, &e.tap).await?;
    Ok("wrote 100 KiB + FIN before reading; all echoed, then EOF".into())
}

async fn halfclose_data_flowing(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let st = s.open().await?;
    const SIZE: u64 = 16 << 20;
    let got = AtomicU64::new(0);
    let at_fin = AtomicU64::new(0);
    let (mut r, mut w) = st.split();
    let wf = async {
        send_data(&mut w, 4, SIZE, 64 * 1024, None).await?;
        at_fin.store(got.load(Ordering::SeqCst), Ordering::SeqCst);
        w.close().await.map_err(|e| format!("close (FIN): {e}"))
    };
    // A reader slower than the writer, so a good part of the echo is still
    // in flight when our FIN goes out.
    let rf = recv_check(&mut r, 4, Some(&got), true);
    let (wr, rr) = future::join(wf, rf).await;
    wr.map_err(|e| format!("write/FIN: {e}"))?;
    let n = rr?;
    if n != SIZE {
        return fail(format!("echoed {n} bytes, want {SIZE}"));
    }
    let after = n - at_fin.load(Ordering::SeqCst);
    if after == 0 {
        return fail("no data flowed after our FIN (test too weak)");
    }
    close_session(&s, &e.tap).await?;
    Ok(format!("16 MiB: {} KiB still echoed after our FIN, then EOF", after >> 10))
}

/// rust-yamux has no reset call: dropping a Stream that is still open both
/// ways sends Data|RST. We do it while the echo is blocked on our window.
async fn reset(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let st = s.open().await?;
    let id = st.id().val();
    let (r, mut w) = st.split();
    let sent = Arc::new(AtomicU64::new(0));
    let sent2 = sent.clone();
    let writer = tokio::spawn(async move {
        let _ = send_data(&mut w, 11, 8 << 20, 16 * 1024, Some(&sent2)).await;
        w
    });
    // Wait until our writes stall (the echo stopped reading: its queue is
    // full because we do not read).
    let mut last = u64::MAX;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    if writer.is_finished() {
        return fail("8 MiB written without the echo ever blocking (test too weak)");
    }
    writer.abort();
    let _ = writer.await;
    drop(r); // both halves gone: the stream is dropped, Data|RST goes out
    let rst = e
        .tap
        .wait(Duration::from_secs(5), |f| !f.rx && f.id == id && f.has(RST))
        .await
        .ok_or("no RST on the wire after dropping the open stream")?;
    // The session goes on: a new stream echoes.
    let st2 = s.open().await?;
    let id2 = st2.id().val();
    within(Duration::from_secs(20), "echo on the next stream", echo_stream(st2, 12, 64 * 1024, None)).await??;
    if let Some(ga) = e.tap.find(|f| f.rx && f.typ == GOAWAY) {
        return fail(format!("peer sent {ga} after our RST"));
    }
    let back = e.tap.count(|f| f.rx && f.id == id && f.at > rst.at);
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "{} (dropped open stream) after {} KiB written, echo blocked on window; peer sent {back} frames for it after; stream {id2} echoed 64 KiB",
        kind(&rst),
        last >> 10
    ))
}

/// rust-yamux 0.14 has no public ping. Its connection sends an RTT probe
/// (Ping|SYN) as soon as it is polled, then every 10 s; a wrong or unsolicited
/// pong would end the session with a protocol error.
async fn ping(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let p = e
        .tap
        .wait(Duration::from_secs(5), |f| !f.rx && f.typ == PING && f.has(SYN))
        .await
        .ok_or("rust-yamux sent no RTT ping")?;
    let pong = e
        .tap
        .wait(Duration::from_secs(5), |f| f.rx && f.typ == PING && f.has(ACK))
        .await
        .ok_or("no pong for rust-yamux's RTT ping within 5s")?;
    if pong.len != p.len || pong.id != 0 {
        return fail(format!("ping {p} answered with {pong}"));
    }
    // The session is still fine after the pong.
    let st = s.open().await?;
    echo_stream(st, 5, 1024, None).await?;
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "no public ping in rust-yamux {YAMUX_VERSION}; its RTT probe Ping|SYN(value {}) got Ping|ACK(same) in {:?}",
        p.len,
        pong.at.duration_since(p.at)
    ))
}

/// The echo pings every 100 ms (--ping 100: libyamux's keepalive alone sends
/// none while it hears from its peer, so --keepalive 100 is only the
/// timeout side) while one stream is saturated both ways for 1.5 s:
/// rust-yamux must answer every ping (its pongs go ahead of stream frames)
/// and nobody may time out.
async fn keepalive(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let st = s.open().await?;
    let id = st.id().val();
    let (mut r, mut w) = st.split();
    let start = Instant::now();
    let wf = async {
        let mut off = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while start.elapsed() < Duration::from_millis(1500) {
            fill(9, off, &mut buf);
            w.write_all(&buf).await.map_err(|e| format!("write after {off} bytes: {e}"))?;
            off += buf.len() as u64;
        }
        w.close().await.map_err(|e| format!("close (FIN): {e}"))?;
        Ok::<u64, String>(off)
    };
    let (wr, rr) = future::join(wf, recv_check(&mut r, 9, None, false)).await;
    let why = || format!(" (session: {})", s.ended().unwrap_or("running".into()));
    let sent = wr.map_err(|err| format!("stream {id}: {err}{}", why()))?;
    let got = rr.map_err(|err| format!("stream {id}: {err}{}", why()))?;
    let d = start.elapsed();
    if got != sent {
        return fail(format!("echoed {got} bytes, sent {sent}"));
    }
    if let Some(why) = s.ended() {
        return fail(format!("session ended during the transfer: {why}"));
    }
    let frames = e.tap.frames();
    let pings: Vec<&Frame> = frames.iter().filter(|f| f.rx && f.typ == PING && f.has(SYN)).collect();
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    for p in &pings {
        if let Some(a) = frames.iter().find(|f| !f.rx && f.typ == PING && f.has(ACK) && f.len == p.len && f.at >= p.at) {
            answered += 1;
            worst = worst.max(a.at.duration_since(p.at));
        }
    }
    if pings.len() < 5 {
        return fail(format!("only {} keepalive pings from the peer in {d:?}", pings.len()));
    }
    if answered != pings.len() {
        return fail(format!("{} of {} pings answered", answered, pings.len()));
    }
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "{} MiB echoed in {:.1}s with the peer pinging every 100 ms: {} pings all answered, slowest pong {:?} after the ping arrived",
        sent >> 20,
        d.as_secs_f64(),
        pings.len(),
        worst
    ))
}

/// rust-yamux's Connection::poll_close is its Go Away: it flushes what the
/// streams queued, sends Go Away(0) and closes the transport. Here on an
/// idle session after an echo; we report what the peer sends after it.
async fn goaway(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let st = s.open().await?;
    echo_stream(st, 21, 1 << 20, None).await?;
    close_session(&s, &e.tap).await?;
    if !e.tap.wait_eof(Duration::from_secs(5)).await {
        return fail(format!("peer did not close the transport within 5s of our GoAway(0); {}", after_goaway(&e.tap)));
    }
    Ok(format!("our GoAway(0) then transport half-close; {}, then EOF", after_goaway(&e.tap)))
}

/// Opens n streams, writes 256 KiB on each without closing (a task per
/// stream) and reads the first KiB of each echo, so they are live both ways.
async fn open_some(s: &Session, n: usize) -> Result<Vec<Stream>, String> {
    let mut out = Vec::new();
    for i in 0..n {
        let st = s.open().await?;
        let (mut r, mut w) = st.split();
        let mut first = vec![0u8; 1024];
        let (wr, rr) = future::join(
            async {
                // The first 64 KiB now; the rest stays queued on the stream.
                send_data(&mut w, i as u64, 64 * 1024, 16 * 1024, None).await
            },
            within(Duration::from_secs(10), "read", r.read_exact(&mut first)),
        )
        .await;
        wr?;
        rr?.map_err(|e| format!("read: {e}"))?;
        out.push(r.reunite(w).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

async fn close_with_open_streams(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let mut live = open_some(&s, 16).await?;
    close_session(&s, &e.tap).await?;
    // What our live streams do after the close.
    let werr = match live[0].write_all(b"after close").await {
        Ok(()) => "write succeeded".to_string(),
        Err(err) => format!("write fails ({})", err.kind()),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    let rres = loop {
        match tokio::time::timeout(Duration::from_millis(500), live[1].read(&mut buf)).await {
            Ok(Ok(0)) => break "read gets EOF".to_string(),
            Ok(Ok(n)) => total += n,
            Ok(Err(err)) => break format!("read fails ({})", err.kind()),
            Err(_) => break "read stays pending (never woken)".to_string(),
        }
    };
    drop(live);
    if !e.tap.wait_eof(Duration::from_secs(5)).await {
        return fail(format!("peer did not close the transport within 5s of our GoAway(0); {}", after_goaway(&e.tap)));
    }
    Ok(format!(
        "16 streams mid-transfer, Connection::poll_close: GoAway(0) + half-close; {}; then on our streams: {werr}, {rres} after {} KiB buffered",
        after_goaway(&e.tap),
        total >> 10
    ))
}

/// The same, but the Connection is dropped without close and the transport
/// closed both ways at once: the peer must not die from a signal.
async fn close_abrupt(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let live = open_some(&s, 16).await?;
    e.ctl.abrupt.store(true, Ordering::SeqCst);
    drop(s);
    drop(live);
    Ok("16 streams mid-transfer, Connection dropped, transport closed both ways".into())
}

/// rust-yamux sends SYN lazily, on a stream's first frame: an opened stream
/// the application has not written to does not exist for the peer, so a
/// protocol where the acceptor speaks first stalls. Checked on the wire, plus
/// SYNs leaving out of id order and the peer's ACK arriving without data.
async fn server_speaks_first(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let t = Duration::from_secs(10);
    let mut a = s.open().await?;
    let ida = a.id().val();
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(f) = e.tap.find(|f| !f.rx && f.id == ida) {
        return fail(format!("rust-yamux sent {f} before any write (expected lazy SYN)"));
    }
    // A second stream, written first: its SYN goes out before a's.
    let mut b = s.open().await?;
    let idb = b.id().val();
    within(t, "write b", b.write_all(b"b first")).await?.map_err(|e| format!("write: {e}"))?;
    let mut got = [0u8; 7];
    within(t, "read b", b.read_exact(&mut got)).await?.map_err(|e| format!("read: {e}"))?;
    let ackb = e
        .tap
        .wait(t, |f| f.rx && f.id == idb && f.has(ACK))
        .await
        .ok_or("no ACK for the written stream")?;
    if b.is_pending_ack() {
        return fail(format!("stream {idb}: ACK {ackb} on the wire but rust-yamux still waits for it"));
    }
    // Now a: its SYN has a lower id than b's, after b's.
    let msg = b"a late, lower id";
    within(t, "write a", a.write_all(msg)).await?.map_err(|e| format!("write: {e}"))?;
    let syna = e.tap.wait(t, |f| !f.rx && f.id == ida).await.ok_or("nothing sent for a")?;
    if !syna.has(SYN) {
        return fail(format!("first frame of stream {ida} is {syna}, no SYN"));
    }
    let mut got = vec![0u8; msg.len()];
    within(t, "read a", a.read_exact(&mut got)).await?.map_err(|e| format!("read: {e}"))?;
    if got != msg {
        return fail("echo differs on a");
    }
    let acka = e.tap.wait(t, |f| f.rx && f.id == ida && f.has(ACK)).await.ok_or("no ACK for a")?;
    for st in [&mut a, &mut b] {
        within(t, "close", st.close()).await?.map_err(|e| format!("close: {e}"))?;
        let mut rest = Vec::new();
        within(t, "read to EOF", st.read_to_end(&mut rest)).await?.map_err(|e| format!("read to EOF: {e}"))?;
    }
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "stream {ida} opened: no frame for 300 ms (the acceptor cannot speak first); stream {idb} written first: {}, peer ACK on {}; then {ida}'s SYN (lower id, late) on {}, ACK on {}",
        kind(&e.tap.find(|f| !f.rx && f.id == idb).unwrap()),
        kind(&ackb),
        kind(&syna),
        kind(&acka)
    ))
}

/// What lazy SYN makes rust-yamux send for streams it never wrote to: a
/// close before the first write sends a FIN without SYN, a drop sends a RST
/// without SYN, both for ids the peer never saw. The peer must ignore them
/// and go on.
async fn lazy_syn_edges(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let t = Duration::from_secs(10);
    let mut c = s.open().await?;
    let idc = c.id().val();
    within(t, "close", c.close()).await?.map_err(|e| format!("close: {e}"))?;
    let finc = e.tap.wait(t, |f| !f.rx && f.id == idc).await.ok_or("nothing sent on close")?;
    let mut rest = Vec::new();
    let cread = match tokio::time::timeout(Duration::from_millis(500), c.read_to_end(&mut rest)).await {
        Ok(Ok(_)) => "read gets EOF".to_string(),
        Ok(Err(err)) => format!("read fails ({})", err.kind()),
        Err(_) => "read never completes (no FIN can come: the peer never saw the stream)".into(),
    };
    drop(c);
    let d = s.open().await?;
    let idd = d.id().val();
    drop(d);
    let rstd = e.tap.wait(t, |f| !f.rx && f.id == idd).await.ok_or("nothing sent on drop")?;
    let st = s.open().await?;
    let ide = st.id().val();
    within(t, "echo after them", echo_stream(st, 31, 100 * 1024, None)).await??;
    if let Some(f) = e.tap.find(|f| f.rx && (f.typ == GOAWAY || f.id == idc || f.id == idd)) {
        return fail(format!("peer answered the stray frames with {f}"));
    }
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "close before write sent {finc} (no SYN; then {cread}); drop before write sent {rstd}; peer ignored both, stream {ide} echoed 100 KiB"
    ))
}

/// rust-yamux opens no more streams while 256 of its own are un-ACKed, and
/// with lazy SYN an opened, unwritten stream counts: the 257th open waits
/// until a write gets a SYN out and the peer ACKs it.
async fn ack_backlog(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let mut streams = Vec::new();
    for _ in 0..256 {
        streams.push(within(Duration::from_secs(5), "open", s.open()).await??);
    }
    let op = s.opener.clone();
    let mut late = tokio::spawn(async move { op.open().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    if late.is_finished() {
        return fail("the 257th open completed with 256 un-ACKed streams");
    }
    let sent_before = e.tap.count(|f| !f.rx && f.id != 0);
    streams[0]
        .write_all(b"x")
        .await
        .map_err(|e| format!("write: {e}"))?;
    let t0 = Instant::now();
    let st = within(Duration::from_secs(10), "the 257th open after an ACK", &mut late)
        .await?
        .map_err(|e| format!("task: {e}"))??;
    let waited = t0.elapsed();
    streams.push(st);
    // Every stream echoes now (255 SYNs leave in whatever order the tasks
    // run).
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut st)| {
            tokio::spawn(async move {
                let id = st.id();
                let msg = format!("stream {id}");
                if i == 0 {
                    let mut x = [0u8; 1];
                    st.read_exact(&mut x).await.map_err(|e| format!("{id}: {e}"))?;
                }
                st.write_all(msg.as_bytes()).await.map_err(|e| format!("{id}: {e}"))?;
                let mut got = vec![0u8; msg.len()];
                st.read_exact(&mut got).await.map_err(|e| format!("{id}: {e}"))?;
                if got != msg.as_bytes() {
                    return Err(format!("{id}: echo differs"));
                }
                st.close().await.map_err(|e| format!("{id}: close: {e}"))?;
                let mut rest = Vec::new();
                st.read_to_end(&mut rest).await.map_err(|e| format!("{id}: {e}"))?;
                Ok::<(), String>(())
            })
        })
        .collect();
    let res = within(Duration::from_secs(20), "257 echoes", join_all(tasks)).await?;
    for r in res {
        r.map_err(|e| format!("task: {e}"))??;
    }
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "256 opened unwritten ({sent_before} stream frames on the wire), the 257th open waited; one write got its SYN out and the peer's ACK released it in {waited:?}; all 257 echoed"
    ))
}


/// A stream opened early and written late puts a SYN on the wire far below
/// the highest id the peer has seen: here 2,000 and 4,200 streams below
/// (libyamux remembers the last 4,096 ids to catch reuse; older ones must
/// still be accepted as new).
async fn lazy_syn_late(mut e: Env) -> ScenResult {
    let s = e.session(Config::default());
    let mut early = s.open().await?;
    let ide = early.id().val();
    let mut mid = None;
    let t = Duration::from_secs(20);
    const N: u64 = 4200;
    let mut done = 0u64;
    while done < N {
        let batch: Vec<_> = (done..(done + 100).min(N))
            .map(|i| {
                let op = s.opener.clone();
                tokio::spawn(async move {
                    let st = op.open().await?;
                    echo_stream(st, 40_000 + i, 64, None).await
                })
            })
            .collect();
        for r in within(t, "echo batch", join_all(batch)).await? {
            r.map_err(|e| format!("task: {e}"))??;
        }
        done += 100;
        if done == 2000 {
            mid = Some(s.open().await?);
            // 2,000 more ids before it is written.
        }
    }
    let mut mid = mid.unwrap();
    let idm = mid.id().val();
    for st in [&mut mid, &mut early] {
        let msg = format!("late SYN on {}", st.id());
        within(t, "write", st.write_all(msg.as_bytes())).await?.map_err(|e| format!("write: {e}"))?;
        let mut got = vec![0u8; msg.len()];
        within(t, "read", st.read_exact(&mut got)).await?.map_err(|e| format!("{}: read: {e}", st.id()))?;
        within(t, "close", st.close()).await?.map_err(|e| format!("close: {e}"))?;
        let mut rest = Vec::new();
        within(t, "read to EOF", st.read_to_end(&mut rest)).await?.map_err(|e| format!("read to EOF: {e}"))?;
    }
    let top = e.tap.frames().iter().filter(|f| !f.rx && f.has(SYN) && f.typ != PING).map(|f| f.id).max().unwrap_or(0);
    close_session(&s, &e.tap).await?;
    Ok(format!(
        "{N} streams echoed (ids up to {top}), then the SYNs of stream {idm} (opened 2,000 streams earlier) and stream {ide} (opened first) went out: both accepted and echoed"
    ))
}
