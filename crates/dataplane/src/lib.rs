//! Linux dataplane of the node agent: nftables rendering, diff and atomic apply, a reader of
//! the programmed table, netlink routes and per-interface sysctls.
//!
//! Pure parts (no I/O): [`model`] (desired state), [`render`], [`table`], [`diff`],
//! [`edit`], [`reader`]. Thin shells: [`nft`] (`nft -f -`, `nft -j list`), [`routes`] and [`gateway_routes`] (rtnetlink),
//! [`sysctl`] (/proc/sys). See DESIGN.md beside this crate for the ruleset layout.

pub mod diff;
pub mod edit;
pub mod error;
pub mod gateway_routes;
pub mod model;
pub mod names;
pub mod nft;
pub mod reader;
pub mod render;
pub mod routes;
pub mod sysctl;
pub mod table;

pub use diff::{diff, diff_scoped, recreate, Batch, Scope};
pub use edit::Edits;
pub use error::Error;
pub use model::DesiredState;
pub use render::render;
pub use table::Table;
