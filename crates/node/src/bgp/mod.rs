//! BGP for the agent: Calico's peerings, exports and kernel routes on our own speaker.
//!
//! ```text
//!  SyncUpdate ──▶ BgpManager::handle ──▶ BgpInputs (Nodes, BGPPeers, BGPConfigurations,
//!                                                   IPPools, IPAM blocks)
//!                 BgpManager::reconcile ──▶ compute_peers ──▶ add/remove peers ──┐
//!                                       ──▶ compute_exports ─▶ announce/withdraw ├─▶ bgp::Speaker
//!                                       ──▶ Export/ImportPolicy ─▶ set_filters ──┘      │
//!                 BgpManager::next_event ◀──── BestChange, session state changes ───────┘
//!                 BgpManager::apply_event ─▶ kernel_routes ──▶ Fib::sync (proto bird, main table)
//!                 BgpManager::status_rows ──▶ status report ──▶ render_status (calicoctl)
//! ```
//!
//! Pure: [`inputs`], [`peers`], [`exports`], [`filters`], the route choice and diff in [`fib`], [`status`].
//! Shells: [`manager`] (the speaker) and [`fib::Fib`] (rtnetlink, through `dataplane::gateway_routes`).

pub mod exports;
pub mod fib;
pub mod filters;
pub mod inputs;
pub mod manager;
pub mod peers;
pub mod status;

pub use exports::{compute_exports, ExportPolicy};
pub use fib::{kernel_routes, KernelRoute, BGP_ROUTE_PROTOCOL};
pub use filters::ImportPolicy;
pub use inputs::BgpInputs;
pub use manager::{BgpEvent, BgpManager, BgpOptions};
pub use peers::{compute_peers, DesiredPeer, LocalSettings, NextHop, PeerPlan, PeerType};
pub use status::{render_details, render_status, render_table, PeerReport};

#[cfg(test)]
mod tests;
