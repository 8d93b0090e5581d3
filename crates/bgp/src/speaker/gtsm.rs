//! The Generalized TTL Security Mechanism (RFC 5082) on a session's socket: send with TTL
//! (hop limit) 255 and have the kernel drop segments that arrive with less than
//! `256 - hops`. Linux exposes the minimum as `IP_MINTTL` / `IPV6_MINHOPCOUNT`, which
//! neither `socket2` nor `nix` wraps, hence the one `setsockopt` call here.
#![allow(unsafe_code)]

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

fn set_int(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: i32,
) -> std::io::Result<()> {
    let value: libc::c_int = value;
    // SAFETY: the descriptor is borrowed for the call; `value` is a live c_int whose size
    // we pass.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Applies GTSM for a peer at most `hops` (1..=255) away on `socket`, connected or not.
/// IPv4 peers reached through an IPv6 socket (v4-mapped) take the IPv4 options.
pub(crate) fn set(socket: &impl AsFd, peer: IpAddr, hops: u8) -> std::io::Result<()> {
    let min = 256 - i32::from(hops.max(1));
    match peer.to_canonical() {
        IpAddr::V4(_) => {
            set_int(socket, libc::IPPROTO_IP, libc::IP_TTL, 255)?;
            set_int(socket, libc::IPPROTO_IP, libc::IP_MINTTL, min)
        }
        IpAddr::V6(_) => {
            set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
            set_int(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, min)
        }
    }
}
