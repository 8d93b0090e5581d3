//! Child tasks of the speaker: accepting, connecting, reading frames and
//! writing bytes. They own sockets only and report to the owner task through
//! its input channel; each is cancelled when its [`Task`] handle drops.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;

use crate::codec::frame_len;
use crate::error::{Error, Result};

/// A spawned task that is aborted when this handle is dropped.
#[derive(Debug)]
pub(crate) struct Task(tokio::task::JoinHandle<()>);

impl Task {
    pub(crate) fn spawn(fut: impl std::future::Future<Output = ()> + Send + 'static) -> Task {
        Task(tokio::spawn(fut))
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What child tasks tell the owner task.
#[derive(Debug)]
pub(crate) enum Input {
    /// The listener accepted a connection.
    Accepted(TcpStream, SocketAddr),
    /// An outgoing connection attempt finished.
    Connected {
        peer: IpAddr,
        attempt: u64,
        result: std::io::Result<TcpStream>,
    },
    /// One complete BGP message arrived on a connection.
    Frame { conn: u64, bytes: Vec<u8> },
    /// A connection closed or failed.
    Closed { conn: u64, error: String },
}

/// One live TCP connection; dropping it stops reading at once and closes
/// the socket once queued writes are flushed.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) local: SocketAddr,
    pub(crate) initiated_locally: bool,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    _reader: Task,
    writer_task: Option<Task>,
}

impl Conn {
    pub(crate) fn new(
        id: u64,
        stream: TcpStream,
        initiated_locally: bool,
        input: mpsc::UnboundedSender<Input>,
    ) -> Result<Conn> {
        let local = stream
            .local_addr()
            .map_err(|e| Error::io("local address of connection", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("TCP_NODELAY", e))?;
        let (rd, wr) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = Task::spawn(read_frames(id, rd, input.clone()));
        let writer = Task::spawn(write_bytes(id, wr, rx, input));
        Ok(Conn {
            id,
            local,
            initiated_locally,
            writer: tx,
            _reader: reader,
            writer_task: Some(writer),
        })
    }

    /// Queues bytes for the peer.
    pub(crate) fn send(&self, bytes: Vec<u8>) {
        // A closed writer means the connection is going away; the reader
        // reports that separately.
        let _ = self.writer.send(bytes);
    }

    /// Closes the connection after flushing what is queued; the returned task
    /// finishes once flushed (at most a few seconds) and must be kept until then.
    pub(crate) fn close(mut self) -> Option<Task> {
        self.writer_task.take()
    }
}

/// Free space the read buffer keeps before each read; it grows (doubling)
/// while the peer sends faster than frames are cut, and shrinks back once
/// drained, so an idle session holds a few KiB rather than a burst's worth.
const READ_SPACE: usize = 4096;
const READ_KEEP: usize = 64 * 1024;

async fn read_frames(id: u64, mut rd: OwnedReadHalf, input: mpsc::UnboundedSender<Input>) {
    let mut buf: Vec<u8> = Vec::new();
    let error = loop {
        let mut start = 0;
        loop {
            match frame_len(&buf[start..]) {
                Ok(Some(len)) => {
                    let bytes = buf[start..start + len].to_vec();
                    start += len;
                    if input.send(Input::Frame { conn: id, bytes }).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                // Hand the bad header to the owner, which sends the NOTIFICATION.
                Err(_) => {
                    let bytes = buf[start..].to_vec();
                    let _ = input.send(Input::Frame { conn: id, bytes });
                    return;
                }
            }
        }
        buf.drain(..start);
        if buf.is_empty() && buf.capacity() > READ_KEEP {
            buf.shrink_to(READ_SPACE);
        }
        if buf.capacity() - buf.len() < READ_SPACE {
            buf.reserve(buf.capacity().max(READ_SPACE));
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break "connection closed by peer".to_string(),
            Ok(_) => {}
            Err(e) => break e.to_string(),
        }
    };
    let _ = input.send(Input::Closed { conn: id, error });
}

async fn write_bytes(
    id: u64,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    input: mpsc::UnboundedSender<Input>,
) {
    while let Some(bytes) = rx.recv().await {
        if let Err(e) = wr.write_all(&bytes).await {
            let _ = input.send(Input::Closed {
                conn: id,
                error: e.to_string(),
            });
            return;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), wr.shutdown()).await;
}

/// Accepts connections forever.
pub(crate) async fn accept(
    listener: std::sync::Arc<TcpListener>,
    input: mpsc::UnboundedSender<Input>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                if input.send(Input::Accepted(stream, addr)).is_err() {
                    return;
                }
            }
            // Transient (e.g. EMFILE): back off briefly.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Opens an outgoing connection, optionally from `source`, signed with an
/// MD5 key and with GTSM for a peer `ttl_security` hops away, and reports
/// the outcome.
pub(crate) async fn connect(
    peer: SocketAddr,
    source: Option<IpAddr>,
    password: Option<String>,
    ttl_security: Option<u8>,
    attempt: u64,
    input: mpsc::UnboundedSender<Input>,
) {
    let result = async {
        let socket = if peer.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(src) = source {
            socket.bind(SocketAddr::new(src, 0))?;
        }
        if let Some(hops) = ttl_security {
            super::gtsm::set(&socket, peer.ip(), hops)?;
        }
        if let Some(key) = &password {
            crate::md5::set_key(&socket, peer.ip(), Some(key.as_bytes()))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        socket.connect(peer).await
    }
    .await;
    let _ = input.send(Input::Connected {
        peer: peer.ip(),
        attempt,
        result,
    });
}
