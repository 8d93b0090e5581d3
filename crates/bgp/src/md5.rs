//! TCP MD5 signatures (RFC 2385) through the Linux `TCP_MD5SIG` socket
//! option. One of the crate's two `unsafe` modules (the other is
//! `speaker/gtsm.rs`): neither `socket2` nor `nix` wraps this option and
//! `libc` lacks `struct tcp_md5sig`, so we lay the structure out ourselves
//! and call `setsockopt` on a borrowed descriptor.
#![allow(unsafe_code)]

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

use socket2::SockAddr;

use crate::error::{Error, Result};

/// Longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// `struct tcp_md5sig` from `linux/tcp.h`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: i32,
    key: [u8; MAX_KEY_LEN],
}

/// Installs (or, with `key = None`, removes) the MD5 key used for segments
/// to and from `peer` on `socket` (a listener or a not-yet-connected socket).
pub fn set_key(socket: &impl AsFd, peer: IpAddr, key: Option<&[u8]>) -> Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MAX_KEY_LEN {
        return Err(Error::io(
            "TCP MD5 key",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "key longer than 80 bytes"),
        ));
    }
    let fd = socket.as_fd();
    // An IPv6 socket talks to IPv4 peers through v4-mapped addresses.
    let is_v6 = socket2::SockRef::from(&fd)
        .local_addr()
        .map(|a| a.is_ipv6())
        .map_err(|e| Error::io("TCP MD5 socket family", e))?;
    let peer = match peer {
        IpAddr::V4(v4) if is_v6 => IpAddr::V6(v4.to_ipv6_mapped()),
        other => other,
    };
    let sockaddr = SockAddr::from(SocketAddr::new(peer, 0));
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut sig = TcpMd5Sig {
        addr: unsafe { std::mem::zeroed() },
        flags: 0,
        prefixlen: 0,
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MAX_KEY_LEN],
    };
    sig.key[..key.len()].copy_from_slice(key);
    // SAFETY: `sockaddr.as_ptr()` points to `sockaddr.len()` valid bytes, no
    // more than a sockaddr_storage holds, and `sig.addr` is a distinct local.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sockaddr.as_ptr().cast::<u8>(),
            std::ptr::addr_of_mut!(sig.addr).cast::<u8>(),
            sockaddr.len() as usize,
        );
    }
    // SAFETY: the descriptor is borrowed for the call and `sig` is a fully
    // initialised `struct tcp_md5sig` whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            std::ptr::addr_of!(sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(Error::io(
            format!("setsockopt TCP_MD5SIG for {peer}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
