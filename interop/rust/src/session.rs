// Drives a rust-yamux Connection. The Connection does nothing unless it is
// polled, so one task owns it and keeps polling poll_next_inbound while it
// serves open and close requests from the scenario (poll_new_outbound,
// poll_close). Dropping the Session aborts that task, which drops the
// Connection and with it the transport.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use tokio::task::JoinHandle;
use yamux::{Config, Connection, Mode, Stream};

use crate::transport::Io;

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
}

pub struct Session {
    pub opener: Opener,
    task: JoinHandle<()>,
    /// Why the connection ended (None while it runs).
    pub ended: Arc<Mutex<Option<String>>>,
}

impl Session {
    pub fn new(io: Io, cfg: Config, client: bool) -> Session {
        let mode = if client { Mode::Client } else { Mode::Server };
        let conn = Connection::new(io, cfg, mode);
        let (tx, rx) = mpsc::unbounded();
        let ended = Arc::new(Mutex::new(None));
        let task = tokio::spawn(drive(conn, rx, ended.clone()));
        Session { opener: Opener { tx }, task, ended }
    }

    pub async fn open(&self) -> Result<Stream, String> {
        self.opener.open().await
    }

    /// Connection::poll_close: flushes what the streams queued, sends Go Away
    /// (code 0) and closes the transport.
    pub async fn close(&self) -> Result<(), String> {
        let (t, r) = oneshot::channel();
        self.opener
            .tx
            .unbounded_send(Cmd::Close(t))
            .map_err(|_| "session ended".to_string())?;
        match r.await {
            Ok(res) => res,
            Err(_) => Err(format!(
                "session ended before close: {}",
                self.ended().unwrap_or_default()
            )),
        }
    }

    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap().clone()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn drive(
    mut conn: Connection<Io>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    ended: Arc<Mutex<Option<String>>>,
) {
    let mut opens: VecDeque<oneshot::Sender<Result<Stream, String>>> = VecDeque::new();
    let mut closing: Option<oneshot::Sender<Result<(), String>>> = None;
    // Streams the peer opens (the echo never does) are kept, not dropped:
    // dropping one would reset it.
    let mut inbound: Vec<Stream> = Vec::new();
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
                    Poll::Ready("closed by us (poll_close)".to_string())
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
                Poll::Ready(Some(Ok(s))) => inbound.push(s),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(format!("connection error: {e}")),
                Poll::Ready(None) => return Poll::Ready("connection closed by the peer".to_string()),
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await;
    *ended.lock().unwrap() = Some(why.clone());
    for t in opens.drain(..) {
        let _ = t.send(Err(format!("open: {why}")));
    }
    // Keep the connection (and so the transport) until the Session is
    // dropped, so a scenario decides when the transport closes.
    drop(inbound);
    futures::future::pending::<()>().await;
}
