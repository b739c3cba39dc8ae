//! The parts of an OCI image config the lint reads.

use serde::Deserialize;

use crate::error::ScanError;

#[derive(Debug, Default, Clone)]
pub struct ImageConfig {
    pub user: String,
    pub env: Vec<String>,
    pub healthcheck: bool,
    pub volumes: Vec<String>,
    /// `created_by` of each history entry, oldest first.
    pub history: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    history: Vec<RawHistory>,
}

#[derive(Deserialize, Default)]
struct RawConfig {
    #[serde(default, rename = "User")]
    user: Option<String>,
    #[serde(default, rename = "Env")]
    env: Option<Vec<String>>,
    #[serde(default, rename = "Healthcheck")]
    healthcheck: Option<serde_json::Value>,
    #[serde(default, rename = "Volumes")]
    volumes: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(default)]
    created_by: Option<String>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, ScanError> {
        let raw: Raw =
            serde_json::from_slice(bytes).map_err(|e| ScanError::BadConfig(e.to_string()))?;
        let c = raw.config.unwrap_or_default();
        let healthcheck = c
            .healthcheck
            .as_ref()
            .and_then(|h| h.get("Test"))
            .and_then(|t| t.as_array())
            .is_some_and(|t| t.first().and_then(|v| v.as_str()) != Some("NONE") && !t.is_empty());
        Ok(ImageConfig {
            user: c.user.unwrap_or_default(),
            env: c.env.unwrap_or_default(),
            healthcheck,
            volumes: c
                .volumes
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default(),
            history: raw
                .history
                .into_iter()
                .filter_map(|h| h.created_by)
                .collect(),
        })
    }
}
