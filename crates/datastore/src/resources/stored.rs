//! How resources are stored: JSON without `resourceVersion` (the key's revision fills it in
//! on read), and the RFC 3339 creation timestamps written on create.

use std::time::{SystemTime, UNIX_EPOCH};

use api::{Kind, Resource};

use super::id::ResourceId;
use crate::{Error, KeyValue, Result, Revision};

/// The revision a resource read from the store carries in its resourceVersion.
pub(super) fn revision_of(resource: &Resource) -> Result<Revision> {
    let rv = resource
        .metadata()
        .resource_version
        .as_deref()
        .unwrap_or("");
    rv.parse().map_err(|_| Error::Corrupt {
        key: ResourceId::of(resource).key(),
        reason: format!("resourceVersion '{rv}' is not a revision"),
    })
}

/// The stored form: the resource's JSON without resourceVersion.
pub(super) fn encode(resource: &Resource) -> Result<Vec<u8>> {
    let mut json = resource.to_json();
    if let Some(meta) = json.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&json).map_err(|e| Error::Corrupt {
        key: ResourceId::of(resource).key(),
        reason: e.to_string(),
    })
}

/// A stored key/value as a resource of `kind`.
pub(super) fn decode_kv(kind: Kind, kv: &KeyValue) -> Result<Resource> {
    decode(kind, &kv.key, &kv.value, kv.revision)
}

/// A stored value as a resource of `kind`, its resourceVersion set to `revision`.
pub(super) fn decode(kind: Kind, key: &str, value: &[u8], revision: Revision) -> Result<Resource> {
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_string(),
        reason,
    };
    let json: serde_json::Value =
        serde_json::from_slice(value).map_err(|e| corrupt(e.to_string()))?;
    let mut resource = Resource::from_json(json).map_err(|e| corrupt(e.to_string()))?;
    if resource.kind() != kind {
        return Err(corrupt(format!("holds a {}", resource.kind())));
    }
    resource.metadata_mut().resource_version = Some(revision.to_string());
    Ok(resource)
}

/// The current time as RFC 3339 UTC with second precision, e.g. `2024-05-01T12:00:00Z`.
pub(super) fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
