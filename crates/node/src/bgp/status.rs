//! Peer status as `calicoctl node status` shows it: per-peer reports (state, counters, last
//! error, hold time, graceful-restart state), their rows in the status socket's shape, the
//! rendering of the IPv4 and IPv6 "BGP status" tables in go-pretty's default box style and
//! of the per-peer details. Pure.

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
    /// Negotiated hold time, while established.
    pub hold_time: Option<u16>,
    /// The peer's graceful-restart time, once it advertised the capability.
    pub peer_restart_time: Option<u16>,
    /// Routes of the peer kept stale through its restart.
    pub stale: usize,
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
            hold_time: status.hold_time,
            peer_restart_time: status.peer_restart_time,
            stale: status.stale,
        }
    }

    fn established(&self) -> bool {
        self.fsm_state == state_name(State::Established)
    }

    /// The graceful-restart state in words.
    pub fn graceful_restart(&self) -> String {
        match (self.peer_restart_time, self.stale, self.established()) {
            (None, _, _) => "not negotiated".to_string(),
            (Some(t), 0, _) => format!("negotiated, peer restart time {t}s"),
            (Some(t), n, false) => {
                format!("peer restarting: {n} stale routes kept (up to {t}s)")
            }
            (Some(_), n, true) => format!("peer restarted: {n} stale routes until End-of-RIB"),
        }
    }

    /// The status-table row (`now` decides between a time and a date in SINCE).
    pub fn to_status(&self, now: SystemTime) -> BgpPeerStatus {
        let up = self.established();
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
            name: Some(self.name.clone()),
            received: Some(self.received),
            accepted: Some(self.accepted),
            advertised: Some(self.advertised),
            last_error: self.last_error.clone(),
            uptime_seconds: up.then(|| now.duration_since(self.since).map_or(0, |d| d.as_secs())),
            hold_time: self.hold_time,
            graceful_restart: Some(self.graceful_restart()),
            stale: Some(self.stale),
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

/// `1h02m03s`, `4m05s`, `6s`.
pub fn format_uptime(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Per-session details (our extension of `calicoctl node status`): one block per session
/// with its counters, uptime, hold time, graceful-restart state and last error. Fields an
/// older agent did not report are left out.
pub fn render_details(peers: &[BgpPeerStatus]) -> String {
    if peers.is_empty() {
        return "No BGP peers found.\n".to_string();
    }
    let mut out = String::new();
    for p in peers {
        let name = p
            .name
            .as_deref()
            .map(|n| format!("{n}, "))
            .unwrap_or_default();
        out += &format!("Peer {} ({name}{})\n", p.peer_address, p.peer_type);
        let state = match p.uptime_seconds {
            Some(up) => format!("{}, up for {}", p.info, format_uptime(up)),
            None => p.info.clone(),
        };
        let mut rows = vec![("State", state)];
        if let (Some(r), Some(a), Some(d)) = (p.received, p.accepted, p.advertised) {
            rows.push((
                "Prefixes",
                format!("{r} received, {a} accepted, {d} advertised"),
            ));
        }
        if let Some(h) = p.hold_time {
            rows.push(("Hold time", format!("{h}s")));
        }
        if let Some(gr) = &p.graceful_restart {
            rows.push(("Graceful restart", gr.clone()));
        }
        if p.name.is_some() {
            let error = p.last_error.clone().unwrap_or_else(|| "none".to_string());
            rows.push(("Last error", error));
        }
        for (key, value) in rows {
            out += &format!("  {:<18}{value}\n", format!("{key}:"));
        }
    }
    out
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
            ..Default::default()
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
            hold_time: None,
            peer_restart_time: None,
            stale: 0,
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

    fn report(state: &str, stale: usize) -> PeerReport {
        PeerReport {
            address: "10.0.0.2".parse().unwrap(),
            peer_type: "global".into(),
            name: "Global_10_0_0_2".into(),
            fsm_state: state.into(),
            since: UNIX_EPOCH + Duration::from_secs(1000),
            received: 3,
            accepted: 2,
            advertised: 1,
            last_error: Some("connection lost".into()),
            hold_time: (state == "Established").then_some(90),
            peer_restart_time: Some(120),
            stale,
        }
    }

    #[test]
    fn details_show_counters_uptime_hold_time_and_graceful_restart() {
        let now = UNIX_EPOCH + Duration::from_secs(1000 + 3723);
        let up = report("Established", 0).to_status(now);
        assert_eq!(
            (up.received, up.accepted, up.advertised),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(up.uptime_seconds, Some(3723));
        let restarting = report("Active", 3).to_status(now);
        assert_eq!(restarting.uptime_seconds, None);
        assert_eq!(restarting.stale, Some(3));
        assert_eq!(
            render_details(&[up, restarting]),
            "\
Peer 10.0.0.2 (Global_10_0_0_2, global)
  State:            Established, up for 1h02m03s
  Prefixes:         3 received, 2 accepted, 1 advertised
  Hold time:        90s
  Graceful restart: negotiated, peer restart time 120s
  Last error:       connection lost
Peer 10.0.0.2 (Global_10_0_0_2, global)
  State:            Active connection lost
  Prefixes:         3 received, 2 accepted, 1 advertised
  Graceful restart: peer restarting: 3 stale routes kept (up to 120s)
  Last error:       connection lost
"
        );
        assert_eq!(render_details(&[]), "No BGP peers found.\n");
        let refreshing = report("Established", 2);
        assert_eq!(
            refreshing.graceful_restart(),
            "peer restarted: 2 stale routes until End-of-RIB"
        );
        let plain = PeerReport {
            peer_restart_time: None,
            ..refreshing
        };
        assert_eq!(plain.graceful_restart(), "not negotiated");
    }

    #[test]
    fn details_of_an_older_agent_show_what_it_reported() {
        let old = BgpPeerStatus {
            peer_address: "10.0.0.3".into(),
            peer_type: "node-to-node mesh".into(),
            state: "up".into(),
            since: "10:00:00".into(),
            info: "Established".into(),
            ..Default::default()
        };
        assert_eq!(
            render_details(&[old]),
            "Peer 10.0.0.3 (node-to-node mesh)\n  State:            Established\n"
        );
        assert_eq!(format_uptime(6), "6s");
        assert_eq!(format_uptime(245), "4m05s");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
