//! Reading a connector's config (its section of the pipeline file, as JSON).

use rapidbyte_protocol::ConnectorError;
use serde::de::DeserializeOwned;

/// Parses `json` into `T`, turning serde's message into a `config` error
/// with code `INVALID_CONFIG`. Use `#[serde(deny_unknown_fields)]` on `T` so
/// typos are caught at `open`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, ConnectorError> {
    serde_json::from_str(json).map_err(|e| ConnectorError::config("INVALID_CONFIG", format!("invalid config: {e}")))
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct C {
        rows: u64,
    }

    #[test]
    fn unknown_field_is_a_config_error() {
        assert_eq!(super::parse::<C>(r#"{"rows": 3}"#).unwrap().rows, 3);
        let e = super::parse::<C>(r#"{"rowz": 3}"#).unwrap_err();
        assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::Config);
        assert!(e.message.contains("rowz"), "{}", e.message);
    }
}
