//! The supported-version table: one row per API key Fjord serves, with its version range.
//!
//! The broker builds one [`VersionTable`] from its handler registry; the same table validates every
//! incoming request and produces the ApiVersions response, so what is advertised is exactly what
//! is dispatched.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

use crate::ProtocolError;

/// One served API and its inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

/// The APIs a broker serves. Built once at start; read-only afterwards.
#[derive(Debug, Clone)]
pub struct VersionTable {
    rows: Vec<ApiRange>,
}

impl VersionTable {
    /// Builds a table. Panics on a duplicated key or a range `kafka-protocol` cannot decode: both are
    /// programming errors in the registry, caught by the first test that starts a broker.
    pub fn new(rows: &[ApiRange]) -> Self {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|r| r.key as i16);
        for pair in rows.windows(2) {
            assert!(pair[0].key != pair[1].key, "{:?} registered twice", pair[0].key);
        }
        for r in &rows {
            let codec = r.key.valid_versions();
            assert!(r.min <= r.max, "{:?}: empty range", r.key);
            // Produce below v3 is handled by the legacy module, not kafka-protocol.
            let min_ok = r.min >= codec.min || r.key == ApiKey::Produce;
            assert!(min_ok && r.max <= codec.max, "{:?} {}..={} outside the codec's range", r.key, r.min, r.max);
        }
        Self { rows }
    }

    /// The row of `key`, if served.
    pub fn get(&self, key: ApiKey) -> Option<ApiRange> {
        self.rows.iter().copied().find(|r| r.key == key)
    }

    /// Every served API, ordered by key.
    pub fn rows(&self) -> &[ApiRange] {
        &self.rows
    }

    /// Checks that `api_key` is served at `version`.
    pub fn check(&self, api_key: i16, version: i16) -> Result<ApiKey, ProtocolError> {
        let key = ApiKey::try_from(api_key).map_err(|_| ProtocolError::UnknownApiKey(api_key))?;
        let row = self.get(key).ok_or(ProtocolError::UnknownApiKey(api_key))?;
        if version < row.min || version > row.max {
            return Err(ProtocolError::UnsupportedVersion { api: key, version, min: row.min, max: row.max });
        }
        Ok(key)
    }

    /// The ApiVersions response body listing every served API, with `error_code`.
    pub fn api_versions_response(&self, error_code: i16) -> ApiVersionsResponse {
        let api_keys = self
            .rows
            .iter()
            .map(|r| ApiVersion::default().with_api_key(r.key as i16).with_min_version(r.min).with_max_version(r.max))
            .collect();
        ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> VersionTable {
        VersionTable::new(&[
            ApiRange { key: ApiKey::Metadata, min: 0, max: 12 },
            ApiRange { key: ApiKey::ApiVersions, min: 0, max: 4 },
            ApiRange { key: ApiKey::Produce, min: 0, max: 11 },
        ])
    }

    #[test]
    fn checks_keys_and_versions() {
        let t = table();
        assert_eq!(t.check(3, 12).unwrap(), ApiKey::Metadata);
        assert!(matches!(t.check(3, 13), Err(ProtocolError::UnsupportedVersion { max: 12, .. })));
        assert!(matches!(t.check(1, 4), Err(ProtocolError::UnknownApiKey(1))));
        assert!(matches!(t.check(999, 0), Err(ProtocolError::UnknownApiKey(999))));
    }

    #[test]
    fn api_versions_lists_rows_in_key_order() {
        let r = table().api_versions_response(0);
        let keys: Vec<i16> = r.api_keys.iter().map(|a| a.api_key).collect();
        assert_eq!(keys, vec![0, 3, 18]);
        assert_eq!(r.api_keys[0].min_version, 0);
    }

    #[test]
    #[should_panic(expected = "outside the codec's range")]
    fn refuses_ranges_the_codec_cannot_decode() {
        VersionTable::new(&[ApiRange { key: ApiKey::Fetch, min: 0, max: 4 }]);
    }
}
