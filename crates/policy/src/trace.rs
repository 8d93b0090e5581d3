//! The verdict for a packet and the trace of how it was reached: each tier,
//! policy, profile and rule visited, and what decided. `Display` prints it for
//! people; `Serialize` gives `-o json`.

use std::fmt;

use api::Action;
use serde::Serialize;

use crate::keys::{EndpointKey, PolicyKey};
use crate::ordering::Direction;
use crate::packet::Packet;

/// The final answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Disposition {
    /// The packet passes.
    Allow,
    /// The packet is dropped.
    Deny,
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disposition::Allow => "ALLOW",
            Disposition::Deny => "DENY",
        })
    }
}

/// One rule that was evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    /// 0-based position in the policy's rule list for the direction.
    pub index: usize,
    /// The rule's action.
    pub action: Action,
    /// Whether the packet matched it.
    pub matched: bool,
}

/// One policy or profile that was evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyTrace {
    /// `namespace/name`, a global policy name, or a profile name.
    pub name: String,
    /// Rules visited, in order (stops at the deciding one).
    pub rules: Vec<RuleTrace>,
    /// True when a listed profile does not exist (it has no rules).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// How a tier ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TierOutcome {
    /// An Allow or Deny rule decided.
    Decided,
    /// A Pass rule sent the packet to the next tier.
    Passed,
    /// No rule matched and the tier's defaultAction is Pass.
    DefaultPass,
    /// No rule matched: end-of-tier drop.
    EndOfTierDrop,
}

/// One tier that was evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TierTrace {
    /// Tier name.
    pub tier: String,
    /// Policies visited, in order.
    pub policies: Vec<PolicyTrace>,
    /// How the tier ended.
    pub outcome: TierOutcome,
}

/// What produced a disposition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum Decision {
    /// A policy rule.
    Policy {
        /// The tier.
        tier: String,
        /// The policy.
        policy: PolicyKey,
        /// Rule index.
        rule: usize,
        /// Allow or Deny.
        action: Action,
    },
    /// A profile rule.
    Profile {
        /// The profile.
        profile: String,
        /// Rule index.
        rule: usize,
        /// Allow or Deny.
        action: Action,
    },
    /// A policy in the tier selected the endpoint but no rule matched.
    EndOfTier {
        /// The tier.
        tier: String,
    },
    /// No tier decided and no profile rule matched (or no profiles).
    NoProfileMatched,
    /// Conntrack ESTABLISHED/RELATED: accepted before policy.
    ConntrackEstablished,
    /// Conntrack INVALID: dropped before policy.
    ConntrackInvalid,
    /// Neither address belongs to a local endpoint: no policy applies.
    NoLocalEndpoint,
}

/// Evaluation at one endpoint in one direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectionTrace {
    /// The endpoint.
    pub endpoint: EndpointKey,
    /// Ingress or egress.
    pub direction: Direction,
    /// Tiers visited.
    pub tiers: Vec<TierTrace>,
    /// Profiles visited (only when no tier decided).
    pub profiles: Vec<PolicyTrace>,
    /// The result at this endpoint.
    pub disposition: Disposition,
    /// What decided it.
    pub decided_by: Decision,
}

/// The answer for a packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The packet judged.
    pub packet: Packet,
    /// ALLOW only if every evaluated side allowed.
    pub disposition: Disposition,
    /// What decided the final answer.
    pub decided_by: Decision,
    /// Egress of the source endpoint, when it is local.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<DirectionTrace>,
    /// Ingress of the destination endpoint, when it is local and was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<DirectionTrace>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Policy {
                tier,
                policy,
                rule,
                action,
            } => write!(f, "{action} rule {rule} of policy {policy} in tier {tier}"),
            Decision::Profile {
                profile,
                rule,
                action,
            } => write!(f, "{action} rule {rule} of profile {profile}"),
            Decision::EndOfTier { tier } => write!(f, "end of tier {tier} (no rule matched)"),
            Decision::NoProfileMatched => f.write_str("no profile rule matched"),
            Decision::ConntrackEstablished => f.write_str("conntrack: established/related flow"),
            Decision::ConntrackInvalid => f.write_str("conntrack: invalid packet"),
            Decision::NoLocalEndpoint => f.write_str("no local endpoint involved"),
        }
    }
}

fn write_policy(
    f: &mut fmt::Formatter<'_>,
    indent: &str,
    kind: &str,
    p: &PolicyTrace,
) -> fmt::Result {
    let missing = if p.missing { " (not found)" } else { "" };
    writeln!(f, "{indent}{kind} {}{missing}", p.name)?;
    if p.rules.is_empty() {
        writeln!(f, "{indent}  (no rules)")?;
    }
    for r in &p.rules {
        let m = if r.matched { "match" } else { "no match" };
        writeln!(f, "{indent}  rule {} {}: {m}", r.index, r.action)?;
    }
    Ok(())
}

impl fmt::Display for DirectionTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} of {}:", self.direction, self.endpoint)?;
        if self.tiers.is_empty() {
            writeln!(f, "  no policy applies")?;
        }
        for t in &self.tiers {
            writeln!(f, "  tier {}:", t.tier)?;
            for p in &t.policies {
                write_policy(f, "    ", "policy", p)?;
            }
            let outcome = match t.outcome {
                TierOutcome::Decided => "decided",
                TierOutcome::Passed => "passed to next tier",
                TierOutcome::DefaultPass => "no match, default action Pass",
                TierOutcome::EndOfTierDrop => "no match, end-of-tier drop",
            };
            writeln!(f, "    => {outcome}")?;
        }
        for p in &self.profiles {
            write_policy(f, "  ", "profile", p)?;
        }
        writeln!(f, "  => {} by {}", self.disposition, self.decided_by)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.packet, self.disposition)?;
        if let Some(e) = &self.egress {
            write!(f, "{e}")?;
        }
        if let Some(i) = &self.ingress {
            write!(f, "{i}")?;
        }
        write!(f, "decided by {}", self.decided_by)
    }
}
