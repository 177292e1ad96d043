// One rust-yamux session over one transport. A Connection does nothing unless
// it is polled, so one task owns it: it keeps polling poll_next_inbound
// (which reads and writes the socket) and serves open and close requests
// from the workload tasks (poll_new_outbound, poll_close). Inbound streams go
// to the accepting side through a channel.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite, ReadBuf};
use yamux::{Config, Connection, Mode, Stream};

type BoxRead = Pin<Box<dyn TokioRead + Send>>;
type BoxWrite = Pin<Box<dyn TokioWrite + Send>>;

/// The transport: tokio's read and write halves behind the futures traits
/// that yamux uses.
pub struct Io {
    r: BoxRead,
    w: BoxWrite,
}

impl Io {
    pub fn new(r: BoxRead, w: BoxWrite) -> Io {
        Io { r, w }
    }
}

impl futures::io::AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match self.r.as_mut().poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures::io::AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.w.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.w.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.w.as_mut().poll_shutdown(cx)
    }
}

enum Cmd {
    Open(oneshot::Sender<Result<Stream, String>>),
    Close(oneshot::Sender<Result<(), String>>),
}

/// Opens streams on the session; cheap to clone into tasks.
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

    /// Connection::poll_close: flushes, sends Go Away, closes the transport.
    pub async fn close(&self) -> Result<(), String> {
        let (t, r) = oneshot::channel();
        self.tx
            .unbounded_send(Cmd::Close(t))
            .map_err(|_| "session ended".to_string())?;
        r.await.map_err(|_| "session ended".to_string())?
    }
}

pub struct Session {
    pub opener: Opener,
    inbound: mpsc::UnboundedReceiver<Stream>,
    pub task: tokio::task::JoinHandle<String>,
}

impl Session {
    pub fn new(io: Io, cfg: Config, client: bool) -> Session {
        let mode = if client { Mode::Client } else { Mode::Server };
        let conn = Connection::new(io, cfg, mode);
        let (tx, rx) = mpsc::unbounded();
        let (itx, irx) = mpsc::unbounded();
        let task = tokio::spawn(drive(conn, rx, itx));
        Session { opener: Opener { tx }, inbound: irx, task }
    }

    pub async fn open(&self) -> Result<Stream, String> {
        self.opener.open().await
    }

    /// The next stream the peer opened; None once the session ended.
    pub async fn accept(&mut self) -> Option<Stream> {
        self.inbound.next().await
    }

    pub async fn close(&self) -> Result<(), String> {
        self.opener.close().await
    }
}

/// Returns why the connection ended.
async fn drive(
    mut conn: Connection<Io>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    inbound: mpsc::UnboundedSender<Stream>,
) -> String {
    let mut opens: VecDeque<oneshot::Sender<Result<Stream, String>>> = VecDeque::new();
    let mut closing: Option<oneshot::Sender<Result<(), String>>> = None;
    let mut rx_done = false;
    let why = futures::future::poll_fn(|cx| {
        while !rx_done {
            match rx.poll_next_unpin(cx) {
                Poll::Ready(Some(Cmd::Open(t))) => opens.push_back(t),
                Poll::Ready(Some(Cmd::Close(t))) => closing = Some(t),
                Poll::Ready(None) => rx_done = true,
                Poll::Pending => break,
            }
        }
        if closing.is_some() {
            return match conn.poll_close(cx) {
                Poll::Ready(r) => {
                    let _ = closing.take().unwrap().send(r.map_err(|e| e.to_string()));
                    Poll::Ready("closed by us".to_string())
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
                Poll::Ready(Some(Ok(s))) => {
                    // Nobody accepts (the client): dropping it resets it.
                    let _ = inbound.unbounded_send(s);
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(format!("connection error: {e}")),
                Poll::Ready(None) => return Poll::Ready("closed by the peer".to_string()),
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await;
    for t in opens.drain(..) {
        let _ = t.send(Err(format!("open: {why}")));
    }
    if let Some(t) = closing.take() {
        let _ = t.send(Err(why.clone()));
    }
    why
}
