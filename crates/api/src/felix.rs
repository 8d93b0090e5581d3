//! FelixConfiguration: per-cluster (`default`) or per-node (`node.<name>`) dataplane agent
//! settings. Every field is optional; unset means "use the built-in default".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::{self, Check, Ctx};
use crate::duration::Duration;
use crate::endpoint::Dscp;
use crate::kind::Kind;
use crate::meta::ObjectMeta;
use crate::port::Port;

/// Dataplane agent settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FelixConfiguration {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: FelixConfigurationSpec,
}

/// FelixConfiguration spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FelixConfigurationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_screen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_severity_sys: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_exclude: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_insert_mode: Option<ChainInsertMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_endpoint_to_host_action: Option<EndpointToHostAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_filter_allow_action: Option<AllowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_mangle_allow_action: Option<AllowAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_filter_deny_action: Option<DenyAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_mark_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_mark_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_backend: Option<IptablesBackend>,
    #[serde(
        default,
        rename = "nftablesMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_mode: Option<NftablesMode>,
    #[serde(
        default,
        rename = "bpfEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_enabled: Option<bool>,
    #[serde(
        default,
        rename = "ipipEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipip_enabled: Option<bool>,
    #[serde(default, rename = "ipipMTU", skip_serializing_if = "Option::is_none")]
    pub ipip_mtu: Option<i32>,
    #[serde(
        default,
        rename = "vxlanEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_enabled: Option<bool>,
    #[serde(default, rename = "vxlanMTU", skip_serializing_if = "Option::is_none")]
    pub vxlan_mtu: Option<i32>,
    #[serde(
        default,
        rename = "vxlanMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub vxlan_mtu_v6: Option<i32>,
    #[serde(default, rename = "vxlanPort", skip_serializing_if = "Option::is_none")]
    pub vxlan_port: Option<i32>,
    #[serde(default, rename = "vxlanVNI", skip_serializing_if = "Option::is_none")]
    pub vxlan_vni: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_enabled: Option<bool>,
    #[serde(
        default,
        rename = "wireguardEnabledV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_enabled_v6: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_listening_port: Option<i32>,
    #[serde(
        default,
        rename = "wireguardListeningPortV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_listening_port_v6: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_interface_name: Option<String>,
    #[serde(
        default,
        rename = "wireguardInterfaceNameV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_interface_name_v6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wireguard_routing_rule_priority: Option<i32>,
    #[serde(
        default,
        rename = "wireguardMTU",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu: Option<i32>,
    #[serde(
        default,
        rename = "wireguardMTUV6",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_mtu_v6: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_metrics_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_inbound_host_ports: Option<Vec<ProtoPort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failsafe_outbound_host_ports: Option<Vec<ProtoPort>>,
    #[serde(
        default,
        rename = "natOutgoingAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_outgoing_address: Option<String>,
    #[serde(
        default,
        rename = "natPortRange",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_port_range: Option<Port>,
    #[serde(
        default,
        rename = "natOutgoingExclusions",
        skip_serializing_if = "Option::is_none"
    )]
    pub nat_outgoing_exclusions: Option<NatOutgoingExclusions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_loop_prevention: Option<ServiceLoopPrevention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsets_refresh_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_interval: Option<Duration>,
    #[serde(
        default,
        rename = "reportingTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub reporting_ttl: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_ranges: Option<Vec<RouteTableRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_range: Option<RouteTableRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_external_routes: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_route_protocol: Option<i32>,
    #[serde(
        default,
        rename = "ipv6Support",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_support: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_node_port_ranges: Option<Vec<Port>>,
    #[serde(
        default,
        rename = "mtuIfacePattern",
        skip_serializing_if = "Option::is_none"
    )]
    pub mtu_iface_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting_enabled: Option<bool>,
    #[serde(
        default,
        rename = "ipForwarding",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_forwarding: Option<EnabledDisabled>,
    // The remaining Calico fields: accepted, kept and written back as given.
    #[serde(
        default,
        rename = "nodeSelector",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_selector: Option<String>,
    #[serde(
        default,
        rename = "useInternalDataplaneDriver",
        skip_serializing_if = "Option::is_none"
    )]
    pub use_internal_dataplane_driver: Option<bool>,
    #[serde(
        default,
        rename = "dataplaneDriver",
        skip_serializing_if = "Option::is_none"
    )]
    pub dataplane_driver: Option<String>,
    #[serde(
        default,
        rename = "dataplaneWatchdogTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub dataplane_watchdog_timeout: Option<Duration>,
    #[serde(
        default,
        rename = "interfaceRefreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub interface_refresh_interval: Option<Duration>,
    #[serde(
        default,
        rename = "iptablesPostWriteCheckInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub iptables_post_write_check_interval: Option<Duration>,
    #[serde(
        default,
        rename = "iptablesLockProbeInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub iptables_lock_probe_interval: Option<Duration>,
    #[serde(
        default,
        rename = "featureDetectOverride",
        skip_serializing_if = "Option::is_none"
    )]
    pub feature_detect_override: Option<String>,
    #[serde(
        default,
        rename = "featureGates",
        skip_serializing_if = "Option::is_none"
    )]
    pub feature_gates: Option<String>,
    #[serde(
        default,
        rename = "maxIpsetSize",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_ipset_size: Option<i64>,
    #[serde(
        default,
        rename = "xdpRefreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub xdp_refresh_interval: Option<Duration>,
    #[serde(
        default,
        rename = "netlinkTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub netlink_timeout: Option<Duration>,
    #[serde(
        default,
        rename = "metadataAddr",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_addr: Option<String>,
    #[serde(
        default,
        rename = "metadataPort",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata_port: Option<i64>,
    #[serde(
        default,
        rename = "openstackRegion",
        skip_serializing_if = "Option::is_none"
    )]
    pub openstack_region: Option<String>,
    #[serde(default, rename = "logPrefix", skip_serializing_if = "Option::is_none")]
    pub log_prefix: Option<String>,
    #[serde(
        default,
        rename = "logActionRateLimit",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_action_rate_limit: Option<String>,
    #[serde(
        default,
        rename = "logActionRateLimitBurst",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_action_rate_limit_burst: Option<i64>,
    #[serde(
        default,
        rename = "logDebugFilenameRegex",
        skip_serializing_if = "Option::is_none"
    )]
    pub log_debug_filename_regex: Option<String>,
    #[serde(
        default,
        rename = "allowVXLANPacketsFromWorkloads",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_vxlan_packets_from_workloads: Option<bool>,
    #[serde(
        default,
        rename = "allowIPIPPacketsFromWorkloads",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_ipip_packets_from_workloads: Option<bool>,
    #[serde(
        default,
        rename = "endpointReportingEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_reporting_enabled: Option<bool>,
    #[serde(
        default,
        rename = "endpointReportingDelay",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_reporting_delay: Option<Duration>,
    #[serde(
        default,
        rename = "endpointStatusPathPrefix",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_status_path_prefix: Option<String>,
    #[serde(
        default,
        rename = "disableConntrackInvalidCheck",
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_conntrack_invalid_check: Option<bool>,
    #[serde(
        default,
        rename = "healthTimeoutOverrides",
        skip_serializing_if = "Option::is_none"
    )]
    pub health_timeout_overrides: Option<Vec<HealthTimeoutOverride>>,
    #[serde(
        default,
        rename = "prometheusMetricsHost",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_metrics_host: Option<String>,
    #[serde(
        default,
        rename = "prometheusGoMetricsEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_go_metrics_enabled: Option<bool>,
    #[serde(
        default,
        rename = "prometheusProcessMetricsEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_process_metrics_enabled: Option<bool>,
    #[serde(
        default,
        rename = "prometheusWireGuardMetricsEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_wire_guard_metrics_enabled: Option<bool>,
    #[serde(
        default,
        rename = "prometheusMetricsCAFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_metrics_ca_file: Option<String>,
    #[serde(
        default,
        rename = "prometheusMetricsCertFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_metrics_cert_file: Option<String>,
    #[serde(
        default,
        rename = "prometheusMetricsKeyFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_metrics_key_file: Option<String>,
    #[serde(
        default,
        rename = "prometheusMetricsClientAuth",
        skip_serializing_if = "Option::is_none"
    )]
    pub prometheus_metrics_client_auth: Option<String>,
    #[serde(
        default,
        rename = "policySyncPathPrefix",
        skip_serializing_if = "Option::is_none"
    )]
    pub policy_sync_path_prefix: Option<String>,
    #[serde(
        default,
        rename = "usageReportingInitialDelay",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_reporting_initial_delay: Option<Duration>,
    #[serde(
        default,
        rename = "usageReportingInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub usage_reporting_interval: Option<Duration>,
    #[serde(
        default,
        rename = "deviceRouteSourceAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_route_source_address: Option<String>,
    #[serde(
        default,
        rename = "deviceRouteSourceAddressIPv6",
        skip_serializing_if = "Option::is_none"
    )]
    pub device_route_source_address_ipv6: Option<String>,
    #[serde(
        default,
        rename = "programClusterRoutes",
        skip_serializing_if = "Option::is_none"
    )]
    pub program_cluster_routes: Option<String>,
    #[serde(
        default,
        rename = "externalNodesList",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_nodes_list: Option<Vec<String>>,
    #[serde(
        default,
        rename = "debugMemoryProfilePath",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_memory_profile_path: Option<String>,
    #[serde(
        default,
        rename = "debugDisableLogDropping",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_disable_log_dropping: Option<bool>,
    #[serde(
        default,
        rename = "debugSimulateCalcGraphHangAfter",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_simulate_calc_graph_hang_after: Option<Duration>,
    #[serde(
        default,
        rename = "debugSimulateDataplaneHangAfter",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_simulate_dataplane_hang_after: Option<Duration>,
    #[serde(
        default,
        rename = "debugSimulateDataplaneApplyDelay",
        skip_serializing_if = "Option::is_none"
    )]
    pub debug_simulate_dataplane_apply_delay: Option<Duration>,
    #[serde(default, rename = "debugHost", skip_serializing_if = "Option::is_none")]
    pub debug_host: Option<String>,
    #[serde(default, rename = "debugPort", skip_serializing_if = "Option::is_none")]
    pub debug_port: Option<i64>,
    #[serde(
        default,
        rename = "iptablesNATOutgoingInterfaceFilter",
        skip_serializing_if = "Option::is_none"
    )]
    pub iptables_nat_outgoing_interface_filter: Option<String>,
    #[serde(
        default,
        rename = "sidecarAccelerationEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub sidecar_acceleration_enabled: Option<bool>,
    #[serde(
        default,
        rename = "xdpEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub xdp_enabled: Option<bool>,
    #[serde(
        default,
        rename = "genericXDPEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub generic_xdp_enabled: Option<bool>,
    #[serde(
        default,
        rename = "nftablesFlowTableOffload",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_flow_table_offload: Option<String>,
    #[serde(
        default,
        rename = "nftablesFlowTableDataIfacePattern",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_flow_table_data_iface_pattern: Option<String>,
    #[serde(
        default,
        rename = "nftablesRefreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_refresh_interval: Option<Duration>,
    #[serde(
        default,
        rename = "nftablesFilterAllowAction",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_filter_allow_action: Option<String>,
    #[serde(
        default,
        rename = "nftablesMangleAllowAction",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_mangle_allow_action: Option<String>,
    #[serde(
        default,
        rename = "nftablesFilterDenyAction",
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_filter_deny_action: Option<String>,
    #[serde(
        default,
        rename = "bpfOverlayHostSourceIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_overlay_host_source_ip: Option<String>,
    #[serde(
        default,
        rename = "bpfDisableUnprivileged",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_disable_unprivileged: Option<bool>,
    #[serde(
        default,
        rename = "bpfJITHardening",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_jit_hardening: Option<String>,
    #[serde(
        default,
        rename = "bpfLogLevel",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_log_level: Option<String>,
    #[serde(
        default,
        rename = "bpfConntrackLogLevel",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_conntrack_log_level: Option<String>,
    #[serde(
        default,
        rename = "bpfConntrackMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_conntrack_mode: Option<String>,
    #[serde(
        default,
        rename = "bpfConntrackTimeouts",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_conntrack_timeouts: Option<BpfConntrackTimeouts>,
    #[serde(
        default,
        rename = "bpfIPFragTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ip_frag_timeout: Option<Duration>,
    #[serde(
        default,
        rename = "bpfLogFilters",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_log_filters: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        rename = "bpfCTLBLogFilter",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ctlb_log_filter: Option<String>,
    #[serde(
        default,
        rename = "bpfDataIfacePattern",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_data_iface_pattern: Option<String>,
    #[serde(
        default,
        rename = "bpfL3IfacePattern",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_l3_iface_pattern: Option<String>,
    #[serde(
        default,
        rename = "bpfConnectTimeLoadBalancingEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_connect_time_load_balancing_enabled: Option<bool>,
    #[serde(
        default,
        rename = "bpfConnectTimeLoadBalancing",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_connect_time_load_balancing: Option<String>,
    #[serde(
        default,
        rename = "bpfHostNetworkedNATWithoutCTLB",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_host_networked_nat_without_ctlb: Option<String>,
    #[serde(
        default,
        rename = "bpfExternalServiceMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_external_service_mode: Option<String>,
    #[serde(
        default,
        rename = "bpfDSROptoutCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_dsr_optout_cid_rs: Option<Vec<String>>,
    #[serde(
        default,
        rename = "bpfExtToServiceConnmark",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ext_to_service_connmark: Option<i64>,
    #[serde(
        default,
        rename = "bpfKubeProxyIptablesCleanupEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_kube_proxy_iptables_cleanup_enabled: Option<bool>,
    #[serde(
        default,
        rename = "bpfKubeProxyMinSyncPeriod",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_kube_proxy_min_sync_period: Option<Duration>,
    #[serde(
        default,
        rename = "bpfKubeProxyHealthzPort",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_kube_proxy_healthz_port: Option<i64>,
    #[serde(
        default,
        rename = "bpfPSNATPorts",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_psnat_ports: Option<Port>,
    #[serde(
        default,
        rename = "bpfMapSizeNATFrontend",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_frontend: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeNATBackend",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_backend: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeNATAffinity",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_nat_affinity: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeRoute",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_route: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeConntrack",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_conntrack: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizePerCpuConntrack",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_per_cpu_conntrack: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeConntrackScaling",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_conntrack_scaling: Option<String>,
    #[serde(
        default,
        rename = "bpfMapSizeConntrackCleanupQueue",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_conntrack_cleanup_queue: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeIPSets",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_ip_sets: Option<i64>,
    #[serde(
        default,
        rename = "bpfMapSizeIfState",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_map_size_if_state: Option<i64>,
    #[serde(
        default,
        rename = "bpfHostConntrackBypass",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_host_conntrack_bypass: Option<bool>,
    #[serde(
        default,
        rename = "bpfIPFragmentReassemblyEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_ip_fragment_reassembly_enabled: Option<bool>,
    #[serde(
        default,
        rename = "bpfEnforceRPF",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_enforce_rpf: Option<String>,
    #[serde(
        default,
        rename = "bpfPolicyDebugEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_policy_debug_enabled: Option<bool>,
    #[serde(
        default,
        rename = "bpfForceTrackPacketsFromIfaces",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_force_track_packets_from_ifaces: Option<Vec<String>>,
    #[serde(
        default,
        rename = "bpfDisableGROForIfaces",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_disable_gro_for_ifaces: Option<String>,
    #[serde(
        default,
        rename = "bpfExcludeCIDRsFromNAT",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_exclude_cid_rs_from_nat: Option<Vec<String>>,
    #[serde(
        default,
        rename = "bpfExportBufferSizeMB",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_export_buffer_size_mb: Option<i64>,
    #[serde(
        default,
        rename = "istioAmbientMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub istio_ambient_mode: Option<String>,
    #[serde(
        default,
        rename = "istioDSCPMark",
        skip_serializing_if = "Option::is_none"
    )]
    pub istio_dscp_mark: Option<Dscp>,
    #[serde(
        default,
        rename = "cgroupV2Path",
        skip_serializing_if = "Option::is_none"
    )]
    pub cgroup_v2_path: Option<String>,
    #[serde(
        default,
        rename = "flowLogsPolicyEvaluationMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_logs_policy_evaluation_mode: Option<String>,
    #[serde(
        default,
        rename = "bpfRedirectToPeer",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_redirect_to_peer: Option<String>,
    #[serde(
        default,
        rename = "bpfAttachType",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_attach_type: Option<String>,
    #[serde(
        default,
        rename = "flowLogsFlushInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_logs_flush_interval: Option<Duration>,
    #[serde(
        default,
        rename = "flowLogsCollectorDebugTrace",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_logs_collector_debug_trace: Option<bool>,
    #[serde(
        default,
        rename = "flowLogsGoldmaneServer",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_logs_goldmane_server: Option<String>,
    #[serde(
        default,
        rename = "flowLogsLocalReporter",
        skip_serializing_if = "Option::is_none"
    )]
    pub flow_logs_local_reporter: Option<String>,
    #[serde(
        default,
        rename = "bpfProfiling",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_profiling: Option<String>,
    #[serde(
        default,
        rename = "routeSource",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_source: Option<String>,
    #[serde(
        default,
        rename = "routeSyncDisabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub route_sync_disabled: Option<bool>,
    #[serde(
        default,
        rename = "ipv4NormalRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_normal_route_priority: Option<i64>,
    #[serde(
        default,
        rename = "ipv4ElevatedRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv4_elevated_route_priority: Option<i64>,
    #[serde(
        default,
        rename = "ipv6NormalRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_normal_route_priority: Option<i64>,
    #[serde(
        default,
        rename = "ipv6ElevatedRoutePriority",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_elevated_route_priority: Option<i64>,
    #[serde(
        default,
        rename = "liveMigrationRouteConvergenceTime",
        skip_serializing_if = "Option::is_none"
    )]
    pub live_migration_route_convergence_time: Option<Duration>,
    #[serde(
        default,
        rename = "wireguardThreadingEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_threading_enabled: Option<bool>,
    #[serde(
        default,
        rename = "wireguardHostEncryptionEnabled",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_host_encryption_enabled: Option<bool>,
    #[serde(
        default,
        rename = "wireguardKeepAlive",
        skip_serializing_if = "Option::is_none"
    )]
    pub wireguard_keep_alive: Option<Duration>,
    #[serde(
        default,
        rename = "awsSrcDstCheck",
        skip_serializing_if = "Option::is_none"
    )]
    pub aws_src_dst_check: Option<String>,
    #[serde(
        default,
        rename = "workloadSourceSpoofing",
        skip_serializing_if = "Option::is_none"
    )]
    pub workload_source_spoofing: Option<String>,
    #[serde(
        default,
        rename = "floatingIPs",
        skip_serializing_if = "Option::is_none"
    )]
    pub floating_ips: Option<String>,
    #[serde(
        default,
        rename = "localSubnetL2Reachability",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_subnet_l2_reachability: Option<String>,
    #[serde(
        default,
        rename = "localSubnetL2ReachabilityRefreshInterval",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_subnet_l2_reachability_refresh_interval: Option<Duration>,
    #[serde(
        default,
        rename = "windowsManageFirewallRules",
        skip_serializing_if = "Option::is_none"
    )]
    pub windows_manage_firewall_rules: Option<String>,
    #[serde(
        default,
        rename = "goGCThreshold",
        skip_serializing_if = "Option::is_none"
    )]
    pub go_gc_threshold: Option<i64>,
    #[serde(
        default,
        rename = "goMemoryLimitMB",
        skip_serializing_if = "Option::is_none"
    )]
    pub go_memory_limit_mb: Option<i64>,
    #[serde(
        default,
        rename = "goMaxProcs",
        skip_serializing_if = "Option::is_none"
    )]
    pub go_max_procs: Option<i64>,
    #[serde(
        default,
        rename = "requireMTUFile",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_mtu_file: Option<bool>,
    #[serde(
        default,
        rename = "bpfMaglevMaxEndpointsPerService",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_maglev_max_endpoints_per_service: Option<i64>,
    #[serde(
        default,
        rename = "bpfMaglevMaxServices",
        skip_serializing_if = "Option::is_none"
    )]
    pub bpf_maglev_max_services: Option<i64>,
}

/// A per-component health timeout override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthTimeoutOverride {
    pub name: String,
    pub timeout: Duration,
}

/// BPF conntrack timeouts: each a duration string or `Auto`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BpfConntrackTimeouts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_grace_period: Option<String>,
    #[serde(
        default,
        rename = "tcpSynSent",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_syn_sent: Option<String>,
    #[serde(
        default,
        rename = "tcpEstablished",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_established: Option<String>,
    #[serde(
        default,
        rename = "tcpFinsSeen",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_fins_seen: Option<String>,
    #[serde(
        default,
        rename = "tcpResetSeen",
        skip_serializing_if = "Option::is_none"
    )]
    pub tcp_reset_seen: Option<String>,
    #[serde(
        default,
        rename = "udpTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub udp_timeout: Option<String>,
    #[serde(
        default,
        rename = "genericTimeout",
        skip_serializing_if = "Option::is_none"
    )]
    pub generic_timeout: Option<String>,
}

/// Whether Calico's chains go first or last in the kernel's built-in chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChainInsertMode {
    #[serde(alias = "insert")]
    Insert,
    #[serde(alias = "append")]
    Append,
}

/// What happens to traffic from a workload to its own host when no policy decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndpointToHostAction {
    Drop,
    Return,
    Accept,
}

/// How an allow verdict is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllowAction {
    Accept,
    Return,
}

/// How a deny verdict is rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DenyAction {
    Drop,
    Reject,
}

/// iptables flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IptablesBackend {
    Legacy,
    #[serde(rename = "NFT")]
    Nft,
    Auto,
}

/// Whether the nftables dataplane is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NftablesMode {
    Enabled,
    Disabled,
    Auto,
}

/// Which destinations are exempt from NAT-outgoing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NatOutgoingExclusions {
    IPPoolsOnly,
    IPPoolsAndHostIPs,
}

/// What to do with traffic to service IPs that no service claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceLoopPrevention {
    Drop,
    Reject,
    Disabled,
}

/// A two-valued switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnabledDisabled {
    Enabled,
    Disabled,
}

/// A failsafe port: protocol, port and optionally a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtoPort {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
}

/// An inclusive range of routing table indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableRange {
    pub min: u32,
    pub max: u32,
}

const LOG_LEVELS: &[&str] = &[
    "trace", "debug", "info", "warning", "error", "fatal", "none",
];
const MAX_NODE_PORT_RANGES: usize = 7;
/// A region becomes part of the namespace name `openstack-region-<region>` (≤63).
const MAX_OPENSTACK_REGION: usize = 63 - "openstack-region-".len();

fn log_level(ctx: &Ctx, field: &str, v: &Option<String>) -> Check {
    match v {
        Some(l) => ctx.ensure(LOG_LEVELS.contains(&l.to_ascii_lowercase().as_str()), field, || {
            format!("unknown log level \"{l}\", expected one of Trace, Debug, Info, Warning, Error, Fatal, None")
        }),
        None => Ok(()),
    }
}

fn port_number(ctx: &Ctx, field: &str, v: Option<i32>) -> Check {
    match v {
        Some(p) => ctx.ensure((1..=65535).contains(&p), field, || {
            format!("port {p} is not in 1..65535")
        }),
        None => Ok(()),
    }
}

fn non_negative(ctx: &Ctx, field: &str, v: Option<i32>) -> Check {
    match v {
        Some(n) => ctx.ensure(n >= 0, field, || format!("{n} must not be negative")),
        None => Ok(()),
    }
}

fn proto_ports(ctx: &Ctx, field: &str, v: &Option<Vec<ProtoPort>>) -> Check {
    for (i, p) in v.iter().flatten().enumerate() {
        let at = format!("{field}[{i}]");
        ctx.ensure(
            ["tcp", "udp", "sctp"].contains(&p.protocol.to_ascii_lowercase().as_str()),
            &format!("{at}.protocol"),
            || format!("protocol must be TCP, UDP or SCTP, not \"{}\"", p.protocol),
        )?;
        if !p.net.is_empty() {
            check::net(ctx, &format!("{at}.net"), &p.net)?;
        }
    }
    Ok(())
}

impl FelixConfiguration {
    pub(crate) fn validate(&self) -> Check {
        let ctx = Ctx::new(Kind::FelixConfiguration, &self.metadata);
        check::subdomain_name(&ctx, "metadata.name", &self.metadata.name)?;
        let s = &self.spec;
        log_level(&ctx, "spec.logSeverityScreen", &s.log_severity_screen)?;
        log_level(&ctx, "spec.logSeverityFile", &s.log_severity_file)?;
        log_level(&ctx, "spec.logSeveritySys", &s.log_severity_sys)?;
        for (field, v) in [
            ("spec.vxlanPort", s.vxlan_port),
            ("spec.wireguardListeningPort", s.wireguard_listening_port),
            (
                "spec.wireguardListeningPortV6",
                s.wireguard_listening_port_v6,
            ),
            ("spec.healthPort", s.health_port),
            ("spec.prometheusMetricsPort", s.prometheus_metrics_port),
        ] {
            port_number(&ctx, field, v)?;
        }
        for (field, v) in [
            ("spec.ipipMTU", s.ipip_mtu),
            ("spec.vxlanMTU", s.vxlan_mtu),
            ("spec.vxlanMTUV6", s.vxlan_mtu_v6),
            ("spec.wireguardMTU", s.wireguard_mtu),
            ("spec.wireguardMTUV6", s.wireguard_mtu_v6),
            ("spec.deviceRouteProtocol", s.device_route_protocol),
        ] {
            non_negative(&ctx, field, v)?;
        }
        if let Some(vni) = s.vxlan_vni {
            ctx.ensure((1..=16_777_215).contains(&vni), "spec.vxlanVNI", || {
                format!("VNI {vni} is not in 1..16777215")
            })?;
        }
        proto_ports(
            &ctx,
            "spec.failsafeInboundHostPorts",
            &s.failsafe_inbound_host_ports,
        )?;
        proto_ports(
            &ctx,
            "spec.failsafeOutboundHostPorts",
            &s.failsafe_outbound_host_ports,
        )?;
        if let Some(a) = &s.nat_outgoing_address {
            if !a.is_empty() {
                check::ip(&ctx, "spec.natOutgoingAddress", a)?;
            }
        }
        if let Some(Port::Named(n)) = &s.nat_port_range {
            return Err(ctx.fail(
                "spec.natPortRange",
                format!("must be numeric, not the named port \"{n}\""),
            ));
        }
        if let Some(ranges) = &s.kube_node_port_ranges {
            ctx.ensure(
                ranges.len() <= MAX_NODE_PORT_RANGES,
                "spec.kubeNodePortRanges",
                || format!("node port ranges list is too long (max {MAX_NODE_PORT_RANGES})"),
            )?;
            ctx.ensure(
                ranges.iter().all(|p| !matches!(p, Port::Named(_))),
                "spec.kubeNodePortRanges",
                || "node port ranges should not contain named ports".to_string(),
            )?;
        }
        if let Some(r) = s.route_table_range {
            ctx.ensure(
                r.min >= 1 && r.min <= r.max && r.max <= 250,
                "spec.routeTableRange",
                || "must be a range of route table indices within 1..250".to_string(),
            )?;
        }
        for (i, r) in s.route_table_ranges.iter().flatten().enumerate() {
            ctx.ensure(
                r.min >= 1 && r.min <= r.max,
                &format!("spec.routeTableRanges[{i}]"),
                || format!("{}-{} is not a range with 1 <= min <= max", r.min, r.max),
            )?;
        }
        for (field, v) in [
            (
                "spec.deviceRouteSourceAddress",
                &s.device_route_source_address,
            ),
            (
                "spec.deviceRouteSourceAddressIPv6",
                &s.device_route_source_address_ipv6,
            ),
        ] {
            if let Some(a) = v.as_deref().filter(|a| !a.is_empty()) {
                check::ip(&ctx, field, a)?;
            }
        }
        for (i, c) in s.external_nodes_list.iter().flatten().enumerate() {
            let field = format!("spec.externalNodesList[{i}]");
            let net = check::parse_net(c).map_err(|e| ctx.fail(&field, e))?;
            ctx.ensure(net.addr().is_ipv4(), &field, || {
                format!("{c} is not an IPv4 CIDR")
            })?;
        }
        if let Some(region) = s.openstack_region.as_deref().filter(|r| !r.is_empty()) {
            ctx.ensure(
                check::is_dns_label(region) && region.len() <= MAX_OPENSTACK_REGION,
                "spec.openstackRegion",
                || format!("\"{region}\" must be a DNS label of at most {MAX_OPENSTACK_REGION} characters"),
            )?;
        }
        if let Some(name) = &s.wireguard_interface_name {
            ctx.ensure(
                check::is_interface_name(name),
                "spec.wireguardInterfaceName",
                || format!("\"{name}\" is not a valid interface name"),
            )?;
        }
        Ok(())
    }
}
