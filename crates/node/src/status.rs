//! The status socket `calicoctl node status` queries: a unix socket that answers every
//! connection with the agent's current [`NodeStatusReport`] as one line of JSON, then closes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::{Error, Result};

/// What the agent reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatusReport {
    pub node_name: String,
    /// `spec.bgp.ipv4Address` as registered (with prefix), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    /// The node's own AS number, if set on the Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_number: Option<u32>,
    /// Whether the agent holds a complete, current copy of the datastore.
    pub in_sync: bool,
    /// Resources held, by kind (plus `IPAMBlock`).
    #[serde(default)]
    pub resources: BTreeMap<String, usize>,
    /// BGP sessions; filled by the BGP speaker.
    #[serde(default)]
    pub bgp_peers: Vec<BgpPeerStatus>,
}

/// One BGP session, as `calicoctl node status` prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpPeerStatus {
    pub peer_address: String,
    /// `node-to-node mesh`, `global` or `node specific`.
    pub peer_type: String,
    /// `up`, `start`...
    pub state: String,
    pub since: String,
    /// e.g. `Established`.
    pub info: String,
    // The details below are ours (Calico prints only the table); reports of older agents
    // lack them.
    /// Calico's BIRD protocol name, e.g. `Global_10_0_0_1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Prefixes received from the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<usize>,
    /// Of those, accepted by import policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
    /// Prefixes advertised to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised: Option<usize>,
    /// The last error seen on the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Seconds since the session was established (only while it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<u64>,
    /// Negotiated hold time, seconds (only while established).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<u16>,
    /// Graceful-restart state, e.g. `negotiated, peer restart time 120s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graceful_restart: Option<String>,
    /// Routes of the peer kept stale through its restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<usize>,
}

/// A bound status socket; the socket file is removed when this drops.
pub struct StatusSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl StatusSocket {
    /// Binds `path`, replacing a stale socket file left by an earlier run.
    pub fn bind(path: &Path) -> Result<StatusSocket> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io("cannot create the directory of", path, e))?;
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("cannot remove stale status socket", path, e))
            }
            _ => {}
        }
        let listener = UnixListener::bind(path).map_err(|error| Error::Serve {
            what: "the status socket".to_string(),
            address: path.display().to_string(),
            error,
        })?;
        Ok(StatusSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Answers connections with the latest report until dropped.
    pub async fn serve(&self, status: watch::Receiver<NodeStatusReport>) {
        loop {
            let mut stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "status socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let mut line = serde_json::to_vec(&*status.borrow()).unwrap_or_default();
            line.push(b'\n');
            // A client that hangs up early only loses its own answer.
            let _ = stream.write_all(&line).await;
            let _ = stream.shutdown().await;
        }
    }
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Asks the agent listening on `path` for its status (what `calicoctl node status` does).
pub async fn query(path: &Path) -> Result<NodeStatusReport> {
    let io = |e| Error::io("cannot query the calico-node status socket", path, e);
    let mut stream = UnixStream::connect(path).await.map_err(io)?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text).await.map_err(io)?;
    serde_json::from_slice(&text).map_err(|e| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad status: {e}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn serves_the_latest_report_and_removes_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/status.sock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"stale").unwrap();
        let socket = Arc::new(StatusSocket::bind(&path).unwrap());
        let (tx, rx) = watch::channel(NodeStatusReport {
            node_name: "n1".into(),
            ..Default::default()
        });
        let server = {
            let socket = Arc::clone(&socket);
            tokio::spawn(async move { socket.serve(rx).await })
        };
        assert_eq!(query(&path).await.unwrap().node_name, "n1");
        tx.send_modify(|s| {
            s.in_sync = true;
            s.ipv4_address = Some("10.0.0.5/24".into());
        });
        let got = query(&path).await.unwrap();
        assert!(got.in_sync);
        assert_eq!(got.ipv4_address.as_deref(), Some("10.0.0.5/24"));
        assert!(got.bgp_peers.is_empty());
        server.abort();
        let _ = server.await;
        drop(socket);
        assert!(!path.exists());
        assert!(query(&path).await.is_err());
    }
}
