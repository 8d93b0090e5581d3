//! Peer status as `calicoctl node status` shows it: per-peer reports (state, counters, last
//! error), their rows in the status socket's shape, and the rendering of the IPv4 and IPv6
//! "BGP status" tables in go-pretty's default box style. Pure.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bgp::fsm::State;
use serde::{Deserialize, Serialize};

use super::peers::PeerType;
use crate::status::BgpPeerStatus;

/// Everything known about one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerReport {
    /// Neighbour address.
    pub address: IpAddr,
    /// PEER TYPE column text (`node-to-node mesh`, `global`, `node specific`, `route reflector`).
    pub peer_type: String,
    /// Calico's BIRD protocol name, e.g. `Mesh_10_0_0_2`.
    pub name: String,
    /// FSM state name (`Established`, `Active`, ...).
    pub fsm_state: String,
    /// When the session last entered or left Established.
    pub since: SystemTime,
    /// Prefixes received.
    pub received: usize,
    /// Prefixes accepted by import policy.
    pub accepted: usize,
    /// Prefixes advertised.
    pub advertised: usize,
    /// Last error on the session.
    pub last_error: Option<String>,
}

impl PeerReport {
    /// A report from the speaker's status of the peer and how the session came about.
    pub fn new(status: &bgp::PeerStatus, peer_type: PeerType, name: &str) -> PeerReport {
        PeerReport {
            address: status.address,
            peer_type: peer_type.as_str().to_string(),
            name: name.to_string(),
            fsm_state: state_name(status.state).to_string(),
            since: status.since,
            received: status.received,
            accepted: status.accepted,
            advertised: status.advertised,
            last_error: status.last_error.clone(),
        }
    }

    /// The status-table row (`now` decides between a time and a date in SINCE).
    pub fn to_status(&self, now: SystemTime) -> BgpPeerStatus {
        let up = self.fsm_state == state_name(State::Established);
        let info = match (&self.last_error, up) {
            (Some(e), false) => format!("{} {e}", self.fsm_state),
            _ => self.fsm_state.clone(),
        };
        BgpPeerStatus {
            peer_address: self.address.to_string(),
            peer_type: self.peer_type.clone(),
            state: if up { "up" } else { "start" }.to_string(),
            since: format_since(self.since, now),
            info,
        }
    }
}

/// BIRD's name of an FSM state.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

/// `HH:MM:SS` (UTC) for today, `YYYY-MM-DD` for an earlier day, like BIRD's protocol list.
pub fn format_since(since: SystemTime, now: SystemTime) -> String {
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (s, n) = (secs(since), secs(now));
    if s / 86_400 == n / 86_400 {
        let t = s % 86_400;
        format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        let (y, m, d) = civil_from_days((s / 86_400) as i64);
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A go-pretty default-style table: `+---+` borders, centred upper-case headers, left-aligned
/// cells, one space of padding.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let mut out = rule.clone();
    for (h, w) in headers.iter().zip(&widths) {
        let h = h.to_uppercase();
        let pad = w - h.chars().count();
        out += &format!("| {}{h}{} ", " ".repeat(pad / 2), " ".repeat(pad - pad / 2));
    }
    out += "|\n";
    out += &rule;
    for row in rows {
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i).map_or("", String::as_str);
            out += &format!("| {cell}{} ", " ".repeat(w - cell.chars().count()));
        }
        out += "|\n";
    }
    if !rows.is_empty() {
        out += &rule;
    }
    out
}

/// The IPv4 and IPv6 "BGP status" sections of `calicoctl node status`.
pub fn render_status(peers: &[BgpPeerStatus]) -> String {
    let mut out = String::new();
    for (v6, label) in [(false, "IPv4"), (true, "IPv6")] {
        let rows: Vec<Vec<String>> = peers
            .iter()
            .filter(|p| {
                p.peer_address
                    .parse::<IpAddr>()
                    .is_ok_and(|a| a.is_ipv6() == v6)
            })
            .map(|p| {
                vec![
                    p.peer_address.clone(),
                    p.peer_type.clone(),
                    p.state.clone(),
                    p.since.clone(),
                    p.info.clone(),
                ]
            })
            .collect();
        out += &format!("{label} BGP status\n");
        if rows.is_empty() {
            out += &format!("No {label} peers found.\n");
        } else {
            out += &render_table(
                &["Peer address", "Peer type", "State", "Since", "Info"],
                &rows,
            );
        }
        out += "\n";
    }
    out
}

/// Per-session details (prefix counters and last error), one row per session.
pub fn render_details(reports: &[PeerReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.address.to_string(),
                r.name.clone(),
                r.fsm_state.clone(),
                r.received.to_string(),
                r.accepted.to_string(),
                r.advertised.to_string(),
                r.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No BGP peers found.\n".to_string();
    }
    render_table(
        &[
            "Peer address",
            "Name",
            "State",
            "Received",
            "Accepted",
            "Advertised",
            "Last error",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn renders_calicos_table_exactly() {
        let peers = vec![BgpPeerStatus {
            peer_address: "172.17.8.102".into(),
            peer_type: "node-to-node mesh".into(),
            state: "up".into(),
            since: "23:30:04".into(),
            info: "Established".into(),
        }];
        let expected = "\
IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+

IPv6 BGP status
No IPv6 peers found.

";
        assert_eq!(render_status(&peers), expected);
        assert_eq!(
            render_status(&[]),
            "IPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n"
        );
    }

    #[test]
    fn reports_become_rows() {
        let now = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 84_604);
        let status = bgp::PeerStatus {
            address: "fd00::2".parse().unwrap(),
            state: State::Active,
            since: now - Duration::from_secs(86_400),
            received: 0,
            accepted: 0,
            advertised: 0,
            last_error: Some("Socket: Connection refused".into()),
        };
        let r = PeerReport::new(&status, PeerType::Global, "Global_fd00__2");
        let row = r.to_status(now);
        assert_eq!(row.peer_address, "fd00::2");
        assert_eq!(row.peer_type, "global");
        assert_eq!(row.state, "start");
        assert_eq!(row.since, "2024-10-03");
        assert_eq!(row.info, "Active Socket: Connection refused");
        let up = PeerReport {
            fsm_state: "Established".into(),
            since: now,
            ..r
        };
        let row = up.to_status(now);
        assert_eq!((row.state.as_str(), row.since.as_str()), ("up", "23:30:04"));
        assert_eq!(row.info, "Established");
        assert!(render_status(&[row]).starts_with("IPv4 BGP status\nNo IPv4 peers found.\n"));
    }

    #[test]
    fn details_show_counters_and_errors() {
        let r = PeerReport {
            address: "10.0.0.2".parse().unwrap(),
            peer_type: "global".into(),
            name: "Global_10_0_0_2".into(),
            fsm_state: "Active".into(),
            since: UNIX_EPOCH,
            received: 3,
            accepted: 2,
            advertised: 1,
            last_error: Some("Connection refused".into()),
        };
        assert_eq!(
            render_details(&[r]),
            "\
+--------------+-----------------+--------+----------+----------+------------+--------------------+
| PEER ADDRESS |      NAME       | STATE  | RECEIVED | ACCEPTED | ADVERTISED |     LAST ERROR     |
+--------------+-----------------+--------+----------+----------+------------+--------------------+
| 10.0.0.2     | Global_10_0_0_2 | Active | 3        | 2        | 1          | Connection refused |
+--------------+-----------------+--------+----------+----------+------------+--------------------+
"
        );
        assert_eq!(render_details(&[]), "No BGP peers found.\n");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
