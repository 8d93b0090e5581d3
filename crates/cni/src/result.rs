//! The CNI result: one internal model, written in the shape of the requested spec version
//! (0.1/0.2 `ip4`/`ip6`, 0.3/0.4 with `version`, 1.0) and read back from any of them (an
//! IPAM plugin's answer, a `prevResult`).

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::version::{ResultShape, SpecVersion};

/// An interface the plugin created or knows about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: Option<String>,
    /// The netns path for interfaces inside the container; `None` on the host.
    pub sandbox: Option<String>,
}

/// One address given to the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpConfig {
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

/// One route the container should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
}

/// A CNI result in version-neutral form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CniResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Option<Value>,
}

impl CniResult {
    /// The result as JSON for `version`.
    pub fn to_json(&self, version: &SpecVersion) -> Value {
        let mut out = Map::new();
        out.insert("cniVersion".into(), json!(version.to_string()));
        match version.result_shape() {
            ResultShape::Legacy => self.legacy_into(&mut out),
            shape => self.current_into(&mut out, shape == ResultShape::V03),
        }
        if let Some(dns) = &self.dns {
            out.insert("dns".into(), dns.clone());
        } else {
            out.insert("dns".into(), json!({}));
        }
        Value::Object(out)
    }

    fn current_into(&self, out: &mut Map<String, Value>, with_version: bool) {
        if !self.interfaces.is_empty() {
            let list: Vec<Value> = self
                .interfaces
                .iter()
                .map(|i| {
                    let mut o = Map::new();
                    o.insert("name".into(), json!(i.name));
                    if let Some(mac) = &i.mac {
                        o.insert("mac".into(), json!(mac));
                    }
                    if let Some(sb) = &i.sandbox {
                        o.insert("sandbox".into(), json!(sb));
                    }
                    Value::Object(o)
                })
                .collect();
            out.insert("interfaces".into(), Value::Array(list));
        }
        let ips: Vec<Value> = self
            .ips
            .iter()
            .map(|ip| {
                let mut o = Map::new();
                if with_version {
                    let v = if ip.address.addr().is_ipv4() {
                        "4"
                    } else {
                        "6"
                    };
                    o.insert("version".into(), json!(v));
                }
                o.insert("address".into(), json!(ip.address.to_string()));
                if let Some(gw) = ip.gateway {
                    o.insert("gateway".into(), json!(gw.to_string()));
                }
                if let Some(idx) = ip.interface {
                    o.insert("interface".into(), json!(idx));
                }
                Value::Object(o)
            })
            .collect();
        out.insert("ips".into(), Value::Array(ips));
        if !self.routes.is_empty() {
            out.insert("routes".into(), routes_json(self.routes.iter()));
        }
    }

    fn legacy_into(&self, out: &mut Map<String, Value>) {
        for (key, v4) in [("ip4", true), ("ip6", false)] {
            let Some(ip) = self.ips.iter().find(|i| i.address.addr().is_ipv4() == v4) else {
                continue;
            };
            let mut o = Map::new();
            o.insert("ip".into(), json!(ip.address.to_string()));
            if let Some(gw) = ip.gateway {
                o.insert("gateway".into(), json!(gw.to_string()));
            }
            let routes: Vec<&Route> = self
                .routes
                .iter()
                .filter(|r| r.dst.addr().is_ipv4() == v4)
                .collect();
            if !routes.is_empty() {
                o.insert("routes".into(), routes_json(routes.into_iter()));
            }
            out.insert(key.into(), Value::Object(o));
        }
    }

    /// Reads a result of any supported shape.
    pub fn from_json(value: &Value) -> Result<Self> {
        let obj = value
            .as_object()
            .ok_or_else(|| Error::Decode("a CNI result must be a JSON object".into()))?;
        let mut result = CniResult {
            dns: obj.get("dns").cloned(),
            ..Default::default()
        };
        if let Some(list) = obj.get("interfaces").and_then(Value::as_array) {
            for i in list {
                result.interfaces.push(Interface {
                    name: str_field(i, "name")?.unwrap_or_default(),
                    mac: str_field(i, "mac")?,
                    sandbox: str_field(i, "sandbox")?,
                });
            }
        }
        if let Some(list) = obj.get("ips").and_then(Value::as_array) {
            for ip in list {
                let address = str_field(ip, "address")?
                    .ok_or_else(|| Error::Decode("result ip without address".into()))?;
                result.ips.push(IpConfig {
                    address: parse_net(&address)?,
                    gateway: str_field(ip, "gateway")?
                        .map(|g| parse_ip(&g))
                        .transpose()?,
                    interface: ip
                        .get("interface")
                        .and_then(Value::as_u64)
                        .and_then(|i| usize::try_from(i).ok()),
                });
            }
        }
        for key in ["ip4", "ip6"] {
            let Some(legacy) = obj.get(key) else {
                continue;
            };
            if let Some(address) = str_field(legacy, "ip")? {
                result.ips.push(IpConfig {
                    address: parse_net(&address)?,
                    gateway: str_field(legacy, "gateway")?
                        .map(|g| parse_ip(&g))
                        .transpose()?,
                    interface: None,
                });
            }
            result.routes.extend(read_routes(legacy.get("routes"))?);
        }
        result.routes.extend(read_routes(obj.get("routes"))?);
        Ok(result)
    }
}

fn routes_json<'a>(routes: impl Iterator<Item = &'a Route>) -> Value {
    Value::Array(
        routes
            .map(|r| {
                let mut o = Map::new();
                o.insert("dst".into(), json!(r.dst.to_string()));
                if let Some(gw) = r.gw {
                    o.insert("gw".into(), json!(gw.to_string()));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

fn read_routes(list: Option<&Value>) -> Result<Vec<Route>> {
    let Some(list) = list.and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|r| {
            let dst = str_field(r, "dst")?
                .ok_or_else(|| Error::Decode("result route without dst".into()))?;
            Ok(Route {
                dst: parse_net(&dst)?,
                gw: str_field(r, "gw")?.map(|g| parse_ip(&g)).transpose()?,
            })
        })
        .collect()
}

fn str_field(v: &Value, key: &str) -> Result<Option<String>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::Decode(format!(
            "result field {key} must be a string, not {other}"
        ))),
    }
}

fn parse_net(s: &str) -> Result<IpNet> {
    s.parse()
        .map_err(|_| Error::Decode(format!("{s:?} is not an address with prefix length")))
}

fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse()
        .map_err(|_| Error::Decode(format!("{s:?} is not an IP address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![
                Interface {
                    name: "cali0123456789a".into(),
                    mac: Some("ee:ee:ee:ee:ee:ee".into()),
                    sandbox: None,
                },
                Interface {
                    name: "eth0".into(),
                    mac: Some("02:00:00:00:00:01".into()),
                    sandbox: Some("/var/run/netns/p".into()),
                },
            ],
            ips: vec![
                IpConfig {
                    address: "10.65.0.5/32".parse().unwrap(),
                    gateway: None,
                    interface: Some(1),
                },
                IpConfig {
                    address: "fd00::5/128".parse().unwrap(),
                    gateway: None,
                    interface: Some(1),
                },
            ],
            routes: vec![],
            dns: None,
        }
    }

    fn v(s: &str) -> SpecVersion {
        SpecVersion::parse(s).unwrap()
    }

    #[test]
    fn v1_has_no_ip_version_and_round_trips() {
        let j = sample().to_json(&v("1.0.0"));
        assert_eq!(j["cniVersion"], "1.0.0");
        assert!(j["ips"][0].get("version").is_none());
        assert_eq!(j["ips"][0]["interface"], 1);
        assert_eq!(j["interfaces"][1]["sandbox"], "/var/run/netns/p");
        let mut back = CniResult::from_json(&j).unwrap();
        back.dns = None;
        assert_eq!(back, sample());
    }

    #[test]
    fn v03_and_v04_carry_ip_version() {
        for ver in ["0.3.1", "0.4.0"] {
            let j = sample().to_json(&v(ver));
            assert_eq!(j["cniVersion"], ver);
            assert_eq!(j["ips"][0]["version"], "4");
            assert_eq!(j["ips"][1]["version"], "6");
        }
    }

    #[test]
    fn legacy_shape_has_ip4_and_ip6() {
        let j = sample().to_json(&v("0.2.0"));
        assert_eq!(j["ip4"]["ip"], "10.65.0.5/32");
        assert_eq!(j["ip6"]["ip"], "fd00::5/128");
        assert!(j.get("ips").is_none());
        let back = CniResult::from_json(&j).unwrap();
        assert_eq!(back.ips.len(), 2);
    }

    #[test]
    fn bad_addresses_are_decode_errors() {
        let e = CniResult::from_json(&json!({"ips": [{"address": "nope"}]})).unwrap_err();
        assert_eq!(e.code(), 6);
    }
}
