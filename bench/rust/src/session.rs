// One rust-yamux session over one transport: the Driver of interop/rust's
// library (interop/rust/src/lib.rs) runs in one task, which polls the
// Connection and serves open and close requests from the workload tasks.
// Inbound streams go to the accepting side through a channel.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::StreamExt;
pub use rust_yamux_peer::Opener;
use rust_yamux_peer::{Driver, End};
use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite};
use yamux::{Config, Stream};

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
        rust_yamux_peer::poll_read(self.r.as_mut(), cx, buf)
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

pub struct Session {
    pub opener: Opener,
    inbound: mpsc::UnboundedReceiver<Stream>,
    pub task: tokio::task::JoinHandle<String>,
}

impl Session {
    pub fn new(io: Io, cfg: Config, client: bool) -> Session {
        let (opener, d) = Driver::new(io, cfg, client);
        let (itx, irx) = mpsc::unbounded();
        let task = tokio::spawn(drive(d, itx));
        Session { opener, inbound: irx, task }
    }

    pub async fn open(&self) -> Result<Stream, String> {
        self.opener.open().await
    }

    /// The next stream the peer opened; None once the session ended.
    pub async fn accept(&mut self) -> Option<Stream> {
        self.inbound.next().await
    }

    /// Connection::poll_close: flushes, sends Go Away, closes the transport.
    pub async fn close(&self) -> Result<(), String> {
        self.opener.close().await
    }
}

/// Returns why the connection ended.
async fn drive(mut d: Driver<Io>, inbound: mpsc::UnboundedSender<Stream>) -> String {
    let why = match d
        .run(|s| {
            // Nobody accepts (the client): dropping it resets it.
            let _ = inbound.unbounded_send(s);
        })
        .await
    {
        End::ClosedByUs => "closed by us".to_string(),
        End::ClosedByPeer => "closed by the peer".to_string(),
        End::Error(e) => format!("connection error: {e}"),
    };
    d.fail_waiting(&why);
    why
}
