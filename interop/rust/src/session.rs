// A rust-yamux session for one scenario: the library's Driver (src/lib.rs)
// runs in one task, which polls the Connection and serves open and close
// requests from the scenario. Dropping the Session aborts that task, which
// drops the Connection and with it the transport.

use std::sync::{Arc, Mutex};

use rust_yamux_peer::{Driver, End, Opener};
use tokio::task::JoinHandle;
use yamux::{Config, Stream};

use crate::transport::Io;

pub struct Session {
    pub opener: Opener,
    task: JoinHandle<()>,
    /// Why the connection ended (None while it runs).
    pub ended: Arc<Mutex<Option<String>>>,
}

impl Session {
    pub fn new(io: Io, cfg: Config, client: bool) -> Session {
        let (opener, d) = Driver::new(io, cfg, client);
        let ended = Arc::new(Mutex::new(None));
        let task = tokio::spawn(drive(d, ended.clone()));
        Session { opener, task, ended }
    }

    pub async fn open(&self) -> Result<Stream, String> {
        self.opener.open().await
    }

    /// Connection::poll_close: flushes what the streams queued, sends Go Away
    /// (code 0) and closes the transport.
    pub async fn close(&self) -> Result<(), String> {
        match self.opener.start_close()?.await {
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

async fn drive(mut d: Driver<Io>, ended: Arc<Mutex<Option<String>>>) {
    // Streams the peer opens (the echo never does) are kept, not dropped:
    // dropping one would reset it.
    let mut inbound: Vec<Stream> = Vec::new();
    let why = match d.run(|s| inbound.push(s)).await {
        End::ClosedByUs => "closed by us (poll_close)".to_string(),
        End::ClosedByPeer => "connection closed by the peer".to_string(),
        End::Error(e) => format!("connection error: {e}"),
    };
    *ended.lock().unwrap() = Some(why.clone());
    d.fail_waiting(&why);
    // Keep the connection (and so the transport) until the Session is
    // dropped, so a scenario decides when the transport closes.
    drop(inbound);
    futures::future::pending::<()>().await;
}
