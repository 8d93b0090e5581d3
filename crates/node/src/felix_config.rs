//! The agent's own Felix settings (health and Prometheus servers), merged pure in Felix's
//! order: `FELIX_<NAME>` environment variables, then the FelixConfiguration `node.<name>`,
//! then `default`, then built-in defaults. Read once at start-up, as Felix restarts to apply
//! a changed configuration.

use api::FelixConfigurationSpec;

use crate::settings::parse_bool;
use crate::{Error, Result};

/// Felix's default health port.
pub const DEFAULT_HEALTH_PORT: u16 = 9099;
/// Felix's default Prometheus metrics port.
pub const DEFAULT_METRICS_PORT: u16 = 9091;

/// Where the health and metrics servers listen, if at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    pub health_enabled: bool,
    pub health_host: String,
    pub health_port: u16,
    pub metrics_enabled: bool,
    /// Empty means every address.
    pub metrics_host: String,
    pub metrics_port: u16,
}

impl ServeConfig {
    /// Merges the sources, highest precedence first. Health and metrics are on by default (as
    /// the calico-node manifests set them); `FELIX_HEALTHENABLED=false` and
    /// `FELIX_PROMETHEUSMETRICSENABLED=false` turn them off.
    pub fn resolve(
        env: impl Fn(&str) -> Option<String>,
        node: Option<&FelixConfigurationSpec>,
        global: Option<&FelixConfigurationSpec>,
    ) -> Result<ServeConfig> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let specs = [node, global];
        // The highest-precedence value of one setting, as text.
        let pick = |var: &str, get: &dyn Fn(&FelixConfigurationSpec) -> Option<String>| {
            env(var).or_else(|| specs.iter().flatten().find_map(|s| get(s)))
        };
        let boolean =
            |var: &str, get: fn(&FelixConfigurationSpec) -> Option<bool>, default| match pick(
                var,
                &|s| get(s).map(|b| b.to_string()),
            ) {
                Some(v) => parse_bool(var, &v),
                None => Ok(default),
            };
        let port = |var: &str, get: fn(&FelixConfigurationSpec) -> Option<i32>, default| match pick(
            var,
            &|s| get(s).map(|p| p.to_string()),
        ) {
            Some(v) => v
                .trim()
                .parse::<u16>()
                .map_err(|_| Error::setting(var, &v, "not a port number")),
            None => Ok(default),
        };
        Ok(ServeConfig {
            health_enabled: boolean("FELIX_HEALTHENABLED", |s| s.health_enabled, true)?,
            health_host: pick("FELIX_HEALTHHOST", &|s| s.health_host.clone())
                .unwrap_or_else(|| "localhost".to_string()),
            health_port: port("FELIX_HEALTHPORT", |s| s.health_port, DEFAULT_HEALTH_PORT)?,
            metrics_enabled: boolean(
                "FELIX_PROMETHEUSMETRICSENABLED",
                |s| s.prometheus_metrics_enabled,
                true,
            )?,
            metrics_host: pick("FELIX_PROMETHEUSMETRICSHOST", &|s| {
                s.prometheus_metrics_host.clone()
            })
            .unwrap_or_default(),
            metrics_port: port(
                "FELIX_PROMETHEUSMETRICSPORT",
                |s| s.prometheus_metrics_port,
                DEFAULT_METRICS_PORT,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(
        vars: &[(&str, &str)],
        node: Option<&FelixConfigurationSpec>,
        global: Option<&FelixConfigurationSpec>,
    ) -> Result<ServeConfig> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        ServeConfig::resolve(|n| map.get(n).map(|v| v.to_string()), node, global)
    }

    #[test]
    fn defaults_match_felix_ports() {
        let c = resolve(&[], None, None).unwrap();
        assert_eq!(
            c,
            ServeConfig {
                health_enabled: true,
                health_host: "localhost".into(),
                health_port: 9099,
                metrics_enabled: true,
                metrics_host: String::new(),
                metrics_port: 9091,
            }
        );
    }

    #[test]
    fn env_beats_node_beats_global() {
        let global = FelixConfigurationSpec {
            health_port: Some(7000),
            health_host: Some("0.0.0.0".into()),
            prometheus_metrics_port: Some(7001),
            prometheus_metrics_enabled: Some(false),
            ..Default::default()
        };
        let node = FelixConfigurationSpec {
            health_port: Some(8000),
            ..Default::default()
        };
        let c = resolve(&[], Some(&node), Some(&global)).unwrap();
        assert_eq!(c.health_port, 8000);
        assert_eq!(c.health_host, "0.0.0.0");
        assert_eq!(c.metrics_port, 7001);
        assert!(!c.metrics_enabled);
        let c = resolve(
            &[
                ("FELIX_HEALTHPORT", "9999"),
                ("FELIX_HEALTHHOST", "127.0.0.1"),
                ("FELIX_PROMETHEUSMETRICSPORT", "9998"),
                ("FELIX_PROMETHEUSMETRICSENABLED", "true"),
            ],
            Some(&node),
            Some(&global),
        )
        .unwrap();
        assert_eq!(c.health_port, 9999);
        assert_eq!(c.health_host, "127.0.0.1");
        assert_eq!(c.metrics_port, 9998);
        assert!(c.metrics_enabled);
    }

    #[test]
    fn bad_port_is_named() {
        let err = resolve(&[("FELIX_HEALTHPORT", "99999")], None, None).unwrap_err();
        assert!(err.to_string().contains("FELIX_HEALTHPORT"), "{err}");
        let out_of_range = FelixConfigurationSpec {
            prometheus_metrics_port: Some(-1),
            ..Default::default()
        };
        assert!(resolve(&[], None, Some(&out_of_range)).is_err());
    }
}
