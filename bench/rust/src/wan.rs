// The W8 family: bulk through the driver's toxiproxy (an emulated WAN
// link), with the server's receive timeline. The same method as the C
// program (bench/bench.c) and gobench (bench/go/wan.go): the server counts
// what arrives in 100 ms buckets from its first byte, samples its RSS at the
// start of each, and prints one RECV line when it has everything; the client
// relates the timeline to its first write. Both processes read
// CLOCK_MONOTONIC.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Instant;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use yamux::Stream;

use crate::session::Opener;
use crate::workloads::{open, vm_rss, write_bytes};
use crate::{die, f1, f6, opt, ChildProc, MIB};

type Kv = Vec<(&'static str, String)>;

const BUCKET_NS: i64 = 100_000_000;

/// Points the driver's proxy (-proxy=host:port/name) at the server's port;
/// returns the address the proxy listens on.
pub fn proxy_route(port: u16) -> String {
    let o = opt();
    let (api, name) = o
        .proxy
        .split_once('/')
        .unwrap_or_else(|| die(format!("bad -proxy {:?} (want host:port/name)", o.proxy)));
    let body = format!("{{\"upstream\":\"127.0.0.1:{port}\"}}");
    let req = format!(
        "POST /proxies/{name} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut c = std::net::TcpStream::connect(api)
        .unwrap_or_else(|e| die(format!("toxiproxy API {api}: {e}")));
    let mut resp = String::new();
    if let Err(e) = c.write_all(req.as_bytes()).and_then(|_| c.read_to_string(&mut resp)) {
        die(format!("toxiproxy API: {e}"));
    }
    if !resp.starts_with("HTTP/1.1 200") {
        die(format!("toxiproxy API: POST /proxies/{name}: {}", resp.lines().next().unwrap_or("")));
    }
    let at = resp
        .find("\"listen\":\"")
        .unwrap_or_else(|| die(format!("toxiproxy API: no listen address in {resp:?}")));
    let rest = &resp[at + 10..];
    rest[..rest.find('"').unwrap_or(rest.len())].to_string()
}

fn mono_now() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

// ---- server: the receive timeline ---------------------------------------------

#[derive(Default)]
struct Timeline {
    total: u64,
    t0: i64,
    half: i64,
    last: i64,
    rss0: i64,
    rss_peak: i64,
    buckets: Vec<u64>,
}

static RX: Mutex<Option<Timeline>> = Mutex::new(None);

/// The RSS baseline, before the session exists.
pub fn rx_init() {
    let r = vm_rss();
    *RX.lock().unwrap() = Some(Timeline { rss0: r, rss_peak: r, ..Default::default() });
}

/// Counts n bytes; returns the RECV line once -size bytes are in.
fn rx_add(n: usize) -> Option<String> {
    let mut g = RX.lock().unwrap();
    let t = g.as_mut().expect("rx_init");
    let now = mono_now();
    if t.total == 0 {
        t.t0 = now;
    }
    let k = ((now - t.t0) / BUCKET_NS) as usize;
    while t.buckets.len() <= k {
        t.buckets.push(0);
        t.rss_peak = t.rss_peak.max(vm_rss());
    }
    t.buckets[k] += n as u64;
    t.total += n as u64;
    let size = opt().size;
    if t.total > size {
        die("received too much");
    }
    if t.half == 0 && 2 * t.total >= size {
        t.half = now;
    }
    t.last = now;
    if t.total < size {
        return None;
    }
    t.rss_peak = t.rss_peak.max(vm_rss());
    let list: Vec<String> = t.buckets.iter().map(|b| b.to_string()).collect();
    Some(format!(
        "RECV t0={} half={} last={} rss0={} rss_peak={} buckets={}",
        t.t0,
        t.half,
        t.last,
        t.rss0,
        t.rss_peak,
        list.join(",")
    ))
}

/// A 0-byte write: rust-yamux sends a stream's SYN (or ACK) only with its
/// first frame, and an opener holds at most 256 un-ACKed streams, so W8m's
/// 1,000 streams need each side to say so before any data (as W6 does; see
/// bench/rust/README.md). Not timed.
async fn announce(st: &mut Stream) {
    if let Err(e) = st.write(&[]).await.and(st.flush().await) {
        die(format!("syn/ack: {e}"));
    }
}

/// Reads and counts; the stream that brings the last byte acks.
pub async fn serve_bulk(st: &mut Stream) {
    announce(st).await;
    let mut buf = vec![0u8; 65536];
    loop {
        match st.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Some(line) = rx_add(n) {
                    println!("{line}");
                    let _ = st.write_all(&[1]).await;
                }
            }
        }
    }
}

// ---- client --------------------------------------------------------------------

static T_START: Mutex<i64> = Mutex::new(0);

/// -streams streams share -size; timed from the first write to the server's
/// ack (on whichever stream brought the last byte).
pub async fn client_bulk(o: &Opener) -> Kv {
    let (size, chunk, n) = (opt().size, opt().chunk, opt().streams as u64);
    let mut sts = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut st = open(o).await;
        announce(&mut st).await;
        sts.push(st);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    for (i, mut st) in sts.into_iter().enumerate() {
        let share = size / n + u64::from((i as u64) < size % n);
        let (tx, mut go) = (tx.clone(), go_rx.clone());
        tokio::spawn(async move {
            let pattern = vec![b'x'; chunk];
            let _ = go.wait_for(|v| *v).await;
            write_bytes(&mut st, &pattern, share).await;
            // Every byte of every stream is written before any ack exists.
            let mut ack = [0u8; 1];
            if st.read_exact(&mut ack).await.is_ok() {
                let _ = tx.send(());
            }
        });
    }
    let t0 = Instant::now();
    *T_START.lock().unwrap() = mono_now();
    let _ = go_tx.send(true);
    if rx.recv().await.is_none() {
        die("no ack");
    }
    let secs = t0.elapsed().as_secs_f64();
    vec![
        ("size", size.to_string()),
        ("chunk", chunk.to_string()),
        ("streams", n.to_string()),
        ("secs", f6(secs)),
        ("mibps", f1(size as f64 / secs / MIB)),
        ("open", "zero_len_write".into()),
    ]
}

/// Reads the server's RECV line (after the child exited) and derives
/// steady_mibps (the last half of the bytes, as the server received them),
/// ramp_secs (first write to the start of the first 0.5 s window whose rate
/// reaches 80 % of steady_mibps; the whole transfer when shorter than one
/// window; its end if no window gets there) and rx_rss_mib.
pub async fn rx_keys(c: &mut ChildProc) -> Kv {
    let mut line = String::new();
    while !line.starts_with("RECV ") {
        line = c.read_line().await;
    }
    let mut t = Timeline::default();
    for tok in line["RECV ".len()..].split_whitespace() {
        let (k, v) = tok.split_once('=').unwrap_or_else(|| die(format!("bad report {line:?}")));
        let num = || v.parse::<i64>().unwrap_or_else(|_| die(format!("bad report {line:?}")));
        match k {
            "t0" => t.t0 = num(),
            "half" => t.half = num(),
            "last" => t.last = num(),
            "rss0" => t.rss0 = num(),
            "rss_peak" => t.rss_peak = num(),
            "buckets" => t.buckets = v.split(',').map(|b| b.parse().unwrap_or(0)).collect(),
            _ => {}
        }
    }
    let size = opt().size;
    let t_start = *T_START.lock().unwrap();
    let steady = if t.last > t.half {
        (size - size / 2) as f64 / ((t.last - t.half) as f64 / 1e9) / MIB
    } else {
        0.0
    };
    let dur = (t.last - t.t0) as f64 / 1e9;
    let mut ramp = (t.last - t_start) as f64 / 1e9;
    if dur < 0.5 {
        if dur > 0.0 && size as f64 / dur / MIB >= 0.8 * steady {
            ramp = (t.t0 - t_start) as f64 / 1e9;
        }
    } else {
        let mut k = 0;
        while (k + 5) as f64 * 0.1 <= dur && k + 5 <= t.buckets.len() {
            let bytes: u64 = t.buckets[k..k + 5].iter().sum();
            if bytes as f64 / 0.5 / MIB >= 0.8 * steady {
                ramp = (t.t0 + k as i64 * BUCKET_NS - t_start) as f64 / 1e9;
                break;
            }
            k += 1;
        }
    }
    vec![
        ("steady_mibps", f1(steady)),
        ("ramp_secs", format!("{ramp:.3}")),
        ("rx_rss_mib", f1((t.rss_peak - t.rss0) as f64 / MIB)),
    ]
}
