//! How Calico turns v1 identifiers into v3 resource names: normalisation to lower-case
//! DNS-style names, an 8-hex-digit SHA-1 qualifier when normalisation changed the name,
//! and dash-separated forms of IP addresses and CIDRs.

use std::net::IpAddr;

use ipnet::IpNet;

/// Lower-cases `name`, turns `/` into `.`, every run of other characters outside
/// `[-.a-z0-9]` into one `-`, every run of `.`/`-` holding a `.` into one `.`, and trims
/// leading and trailing `.`/`-`.
pub(super) fn normalize(name: &str) -> String {
    let mut mapped = String::with_capacity(name.len());
    let mut in_other = false;
    for c in name.to_lowercase().chars() {
        let c = if c == '/' { '.' } else { c };
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
            mapped.push(c);
            in_other = false;
        } else if !in_other {
            mapped.push('-');
            in_other = true;
        }
    }
    let mut out = String::with_capacity(mapped.len());
    let mut run = String::new();
    for c in mapped.chars() {
        if c == '.' || c == '-' {
            run.push(c);
            continue;
        }
        flush_run(&mut out, &mut run);
        out.push(c);
    }
    flush_run(&mut out, &mut run);
    out.trim_matches(|c| c == '.' || c == '-').to_string()
}

fn flush_run(out: &mut String, run: &mut String) {
    if run.contains('.') {
        out.push('.');
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// [`normalize`], plus `-<qualifier>` when that changed the name.
pub(super) fn convert(name: &str) -> String {
    qualify(name, normalize(name))
}

/// Like [`convert`] but with every `.` turned into `-` (policy names).
pub(super) fn convert_no_dots(name: &str) -> String {
    qualify(name, normalize(name).replace('.', "-"))
}

/// A v1 profile name: `k8s_ns.<ns>` became `kns.<ns>`, then [`convert`].
pub(super) fn profile(name: &str) -> String {
    match name.strip_prefix("k8s_ns.") {
        Some(ns) => convert(&format!("kns.{ns}")),
        None => convert(name),
    }
}

fn qualify(original: &str, normalized: String) -> String {
    if original == normalized {
        return normalized;
    }
    let digest = sha1(original.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{normalized}-{hex}")
}

/// `10.0.0.1` ⇒ `10-0-0-1`; IPv6 as eight zero-padded groups, `fd00::1` ⇒
/// `fd00-0000-0000-0000-0000-0000-0000-0001`.
pub(super) fn ip(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string().replace('.', "-"),
        IpAddr::V6(a) => a
            .segments()
            .iter()
            .map(|s| format!("{s:04x}"))
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A pool name from its CIDR text: `.`, `:` and `/` become `-` (`10.0.0.0/16` ⇒
/// `10-0-0-0-16`, `fd00::/64` ⇒ `fd00---64`).
pub(super) fn cidr(net: IpNet) -> String {
    net.to_string().replace(['.', ':', '/'], "-")
}

/// SHA-1 of `data`; only used to derive name qualifiers, as Calico's converter did.
fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize("Node_1"), "node-1");
        assert_eq!(normalize("a/b"), "a.b");
        assert_eq!(normalize("-.a-.-b..c-"), "a.b.c");
        assert_eq!(normalize("x__y"), "x-y");
        assert_eq!(normalize("a--b"), "a--b");
    }

    #[test]
    fn qualifier_only_when_changed() {
        assert_eq!(convert("plain-name"), "plain-name");
        assert_eq!(convert("ABC"), "abc-3c01bdbb");
        assert_eq!(
            convert_no_dots("a.b"),
            format!("a-b-{}", &hex(sha1(b"a.b"))[..8])
        );
        assert_eq!(profile("k8s_ns.default"), "kns.default");
        assert_eq!(
            profile("k8s_ns.Prod"),
            format!("kns.prod-{}", &hex(sha1(b"kns.Prod"))[..8])
        );
    }

    #[test]
    fn address_names() {
        assert_eq!(ip("10.100.0.1".parse().unwrap()), "10-100-0-1");
        assert_eq!(
            ip("fd00::1".parse().unwrap()),
            "fd00-0000-0000-0000-0000-0000-0000-0001"
        );
        assert_eq!(cidr("172.16.100.0/24".parse().unwrap()), "172-16-100-0-24");
        assert_eq!(cidr("fd00::/64".parse().unwrap()), "fd00---64");
    }
}
