// What the interop peer (this package's rust-yamux-peer) and the benchmark
// peer (bench/rust, rustbench, which depends on this library by path) share:
// the task that drives a rust-yamux Connection, tokio reads behind the
// futures I/O traits, and the yamux version.
//
// A Connection does nothing unless it is polled, so one task owns it (a
// Driver): it keeps polling poll_next_inbound (which reads and writes the
// transport) and serves open and close requests sent through an Opener
// (poll_new_outbound, poll_close). What happens to inbound streams, and how
// the end of the connection is reported, is up to each program.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::{AsyncRead, AsyncWrite, StreamExt};
use tokio::io::{AsyncRead as TokioRead, ReadBuf};
use yamux::{Config, Connection, ConnectionError, Mode, Stream};

/// The resolved yamux crate version (from Cargo.lock, see build.rs), for the
/// peers' output.
pub const YAMUX_VERSION: &str = env!("YAMUX_VERSION");

/// tokio's poll_read with the futures signature: Ready(Ok(n)) means the
/// bytes read are buf[..n] (0 at end of file).
pub fn poll_read<R: TokioRead + ?Sized>(
    r: Pin<&mut R>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    match r.poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

enum Cmd {
    Open(oneshot::Sender<Result<Stream, String>>),
    Close(oneshot::Sender<Result<(), String>>),
}

/// Opens streams on a session; cheap to clone into tasks.
#[derive(Clone)]
pub struct Opener {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl Opener {
    pub async fn open(&self) -> Result<Stream, String> {
        let (t, r) = oneshot::channel();
        self.tx
            .unbounded_send(Cmd::Open(t))
            .map_err(|_| "session ended".to_string())?;
        r.await.map_err(|_| "session ended".to_string())?
    }

    /// Asks for Connection::poll_close (flushes what the streams queued,
    /// sends Go Away (code 0), closes the transport); the receiver gets its
    /// result, or is cancelled if the driver is gone first.
    pub fn start_close(&self) -> Result<oneshot::Receiver<Result<(), String>>, String> {
        let (t, r) = oneshot::channel();
        self.tx
            .unbounded_send(Cmd::Close(t))
            .map_err(|_| "session ended".to_string())?;
        Ok(r)
    }

    /// start_close and wait for the result.
    pub async fn close(&self) -> Result<(), String> {
        self.start_close()?
            .await
            .map_err(|_| "session ended".to_string())?
    }
}

/// How Driver::run ended.
pub enum End {
    /// poll_close finished (we asked for it through Opener::close).
    ClosedByUs,
    /// poll_next_inbound returned None.
    ClosedByPeer,
    Error(ConnectionError),
}

/// Owns the Connection; run it in one task.
pub struct Driver<T> {
    conn: Connection<T>,
    rx: mpsc::UnboundedReceiver<Cmd>,
    opens: VecDeque<oneshot::Sender<Result<Stream, String>>>,
    closing: Option<oneshot::Sender<Result<(), String>>>,
    rx_done: bool,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    pub fn new(io: T, cfg: Config, client: bool) -> (Opener, Driver<T>) {
        let mode = if client { Mode::Client } else { Mode::Server };
        let (tx, rx) = mpsc::unbounded();
        let d = Driver {
            conn: Connection::new(io, cfg, mode),
            rx,
            opens: VecDeque::new(),
            closing: None,
            rx_done: false,
        };
        (Opener { tx }, d)
    }

    /// Polls the connection until it ends, serving the Opener's requests;
    /// each stream the peer opens goes to inbound. The Connection (and so
    /// the transport) lives as long as the Driver.
    pub async fn run(&mut self, mut inbound: impl FnMut(Stream)) -> End {
        let Driver { conn, rx, opens, closing, rx_done } = self;
        futures::future::poll_fn(|cx| {
            while !*rx_done {
                match rx.poll_next_unpin(cx) {
                    Poll::Ready(Some(Cmd::Open(t))) => opens.push_back(t),
                    Poll::Ready(Some(Cmd::Close(t))) => *closing = Some(t),
                    Poll::Ready(None) => *rx_done = true,
                    Poll::Pending => break,
                }
            }
            if closing.is_some() {
                return match conn.poll_close(cx) {
                    Poll::Ready(r) => {
                        let _ = closing.take().unwrap().send(r.map_err(|e| e.to_string()));
                        Poll::Ready(End::ClosedByUs)
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            while let Some(t) = opens.front() {
                if t.is_canceled() {
                    opens.pop_front();
                    continue;
                }
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(r) => {
                        let t = opens.pop_front().unwrap();
                        let _ = t.send(r.map_err(|e| format!("open: {e}")));
                    }
                    Poll::Pending => break,
                }
            }
            loop {
                match conn.poll_next_inbound(cx) {
                    Poll::Ready(Some(Ok(s))) => inbound(s),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(End::Error(e)),
                    Poll::Ready(None) => return Poll::Ready(End::ClosedByPeer),
                    Poll::Pending => break,
                }
            }
            Poll::Pending
        })
        .await
    }

    /// After run: fails the opens still waiting with "open: {why}" (and a
    /// close, if one is still waiting, with why).
    pub fn fail_waiting(&mut self, why: &str) {
        for t in self.opens.drain(..) {
            let _ = t.send(Err(format!("open: {why}")));
        }
        if let Some(t) = self.closing.take() {
            let _ = t.send(Err(why.to_string()));
        }
    }
}
