//! Shared validation helpers: the validation context that names the resource in errors,
//! and checks for names, addresses, selectors and interface names.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Error;
use crate::kind::Kind;
use crate::meta::ObjectMeta;

/// Result of one validation step.
pub(crate) type Check = Result<(), Error>;

/// Names the resource being validated so every error can say which one it is.
pub(crate) struct Ctx {
    kind: Kind,
    name: String,
}

impl Ctx {
    pub(crate) fn new(kind: Kind, meta: &ObjectMeta) -> Ctx {
        let name = match &meta.namespace {
            Some(ns) if kind.namespaced() && !ns.is_empty() => format!("{ns}/{}", meta.name),
            _ => meta.name.clone(),
        };
        Ctx { kind, name }
    }

    /// A validation error for `field` with `reason`.
    pub(crate) fn fail(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Validation {
            kind: self.kind,
            name: self.name.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Fails with `reason` unless `ok` holds.
    pub(crate) fn ensure(&self, ok: bool, field: &str, reason: impl FnOnce() -> String) -> Check {
        if ok {
            Ok(())
        } else {
            Err(self.fail(field, reason()))
        }
    }
}

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;

/// Whether `s` is a DNS-1123 label: lower-case alphanumerics and `-`, alphanumeric at both ends.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= LABEL_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain as Kubernetes and Calico check it: dot-separated
/// labels of lower-case alphanumerics and `-`, at most 253 characters in all. Like their
/// validators, no per-label length limit applies (CNI endpoint names with 64-hex container
/// IDs rely on that).
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= SUBDOMAIN_MAX
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Checks a resource name (or a field holding one) is a DNS-1123 subdomain.
pub(crate) fn subdomain_name(ctx: &Ctx, field: &str, value: &str) -> Check {
    if value.is_empty() {
        return Err(ctx.fail(field, "name must be specified"));
    }
    if value.len() > SUBDOMAIN_MAX {
        return Err(ctx.fail(
            field,
            format!("name is too long by {} bytes", value.len() - SUBDOMAIN_MAX),
        ));
    }
    ctx.ensure(is_dns_subdomain(value), field, || {
        format!("\"{value}\" must consist of lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric character")
    })
}

/// Checks an optional name-valued field: empty is fine, otherwise a DNS-1123 subdomain.
pub(crate) fn optional_name(ctx: &Ctx, field: &str, value: &str) -> Check {
    if value.is_empty() {
        Ok(())
    } else {
        subdomain_name(ctx, field, value)
    }
}

/// Parses a CIDR or a bare IP (taken as /32 or /128). Host bits are kept.
pub(crate) fn parse_net(s: &str) -> Result<IpNet, String> {
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n);
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("\"{s}\" is not a valid CIDR or IP address"))
}

/// Checks a CIDR-or-IP field.
pub(crate) fn net(ctx: &Ctx, field: &str, s: &str) -> Check {
    parse_net(s).map(|_| ()).map_err(|e| ctx.fail(field, e))
}

/// Checks an IP address field.
pub(crate) fn ip(ctx: &Ctx, field: &str, s: &str) -> Result<IpAddr, Error> {
    s.parse::<IpAddr>()
        .map_err(|_| ctx.fail(field, format!("\"{s}\" is not a valid IP address")))
}

/// Checks an optional IP field holds an address of the given family (4 or 6).
pub(crate) fn optional_ip_of(ctx: &Ctx, field: &str, s: &str, version: u8) -> Check {
    if s.is_empty() {
        return Ok(());
    }
    let addr = ip(ctx, field, s)?;
    ctx.ensure(ip_version(addr) == version, field, || {
        format!("\"{s}\" is not an IPv{version} address")
    })
}

/// 4 or 6.
pub(crate) fn ip_version(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        4
    } else {
        6
    }
}

/// Checks a selector parses; `global()` is rejected unless `allow_global`.
pub(crate) fn selector(ctx: &Ctx, field: &str, s: &str, allow_global: bool) -> Check {
    let sel = selector::parse(s).map_err(|e| {
        ctx.fail(
            field,
            format!(
                "invalid selector \"{}\": {} at position {}",
                e.input, e.reason, e.position
            ),
        )
    })?;
    ctx.ensure(allow_global || !sel.uses_global(), field, || {
        format!("global() is not allowed in this selector (\"{s}\")")
    })
}

/// Whether `s` is a Linux interface name Calico accepts (1..15 of `[a-zA-Z0-9_.-]`).
pub(crate) fn is_interface_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `s` is a valid named port (IANA service name: ≤15 chars, lower-case alnum and
/// `-`, at least one letter, no leading, trailing or doubled `-`).
pub(crate) fn is_port_name(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Whether `s` is a MAC address written as six colon- or dash-separated hex pairs.
pub(crate) fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks label keys and values follow Kubernetes rules: key `[prefix/]name` with a
/// DNS-subdomain prefix and a name of ≤63 `[A-Za-z0-9_.-]` starting and ending alphanumeric;
/// value empty or of the same form.
pub(crate) fn labels(
    ctx: &Ctx,
    field: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Check {
    for (k, v) in labels {
        let (prefix, name) = match k.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, k.as_str()),
        };
        let key_ok = prefix.is_none_or(|p| !p.is_empty() && is_dns_subdomain(p))
            && is_label_value(name)
            && !name.is_empty();
        ctx.ensure(key_ok, &format!("{field}.{k}"), || {
            format!("\"{k}\" is not a valid label key")
        })?;
        ctx.ensure(is_label_value(v), &format!("{field}.{k}"), || {
            format!("\"{v}\" is not a valid label value")
        })?;
    }
    Ok(())
}

fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= LABEL_MAX
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_subdomain("a.b-c.d1"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(!is_dns_subdomain("-a"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
        // A CNI endpoint name with a 64-hex container ID has a label longer than 63.
        let cni_name = format!("node1-cni-{}-eth0", "ab12".repeat(16));
        assert!(is_dns_subdomain(&cni_name));
        assert!(is_dns_label("abc-1"));
        assert!(!is_dns_label("a.b"));
    }

    #[test]
    fn nets_accept_bare_ips() {
        assert_eq!(parse_net("10.1.2.3").unwrap().prefix_len(), 32);
        assert_eq!(parse_net("fd00::1").unwrap().prefix_len(), 128);
        assert_eq!(parse_net("10.1.2.3/24").unwrap().prefix_len(), 24);
        assert!(parse_net("10.1.2/24").is_err());
    }

    #[test]
    fn port_names_and_interfaces() {
        assert!(is_port_name("http"));
        assert!(is_port_name("h2-c"));
        assert!(!is_port_name("123"));
        assert!(!is_port_name("a--b"));
        assert!(!is_port_name("Http"));
        assert!(is_interface_name("eth0.100"));
        assert!(!is_interface_name("a-very-long-interface"));
        assert!(is_mac("aa:bb:cc:dd:ee:ff"));
        assert!(!is_mac("aa:bb:cc:dd:ee"));
    }
}
