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

/// SHA-1 (FIPS 180-4) of `data`; only used to derive name qualifiers.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hv, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hv = hv.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_known_answers() {
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
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
