//! Reading a connector's config (its section of the pipeline file, as JSON).

use rapidbyte_protocol::ConnectorError;
use serde::de::DeserializeOwned;

/// Parses `json` into `T`, turning serde's message into a `config` error
/// with code `INVALID_CONFIG`. Use `#[serde(deny_unknown_fields)]` on `T` so
/// typos are caught at `open`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, ConnectorError> {
    serde_json::from_str(json).map_err(|e| ConnectorError::config("INVALID_CONFIG", format!("invalid config: {e}")))
}

/// A number or a boolean in a connector's config may arrive as text: a
/// `${VAR}` in the pipeline file is always replaced by a string (SPEC
/// § Security). Use as `#[serde(deserialize_with = "rapidbyte_sdk::config::lenient")]`
/// on a numeric or `bool` field; the error never repeats the text, which
/// may be a misplaced secret.
pub fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + std::str::FromStr,
{
    use serde::Deserialize;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given<T> {
        Value(T),
        Text(String),
    }
    match Given::<T>::deserialize(deserializer) {
        Ok(Given::Value(v)) => Ok(v),
        Ok(Given::Text(s)) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("expected {}, found text that is not one", std::any::type_name::<T>()))
        }),
        Err(_) => Err(serde::de::Error::custom(format!("expected {}", std::any::type_name::<T>()))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct C {
        rows: u64,
    }

    #[derive(serde::Deserialize, Debug)]
    struct L {
        #[serde(deserialize_with = "super::lenient")]
        port: u16,
        #[serde(default, deserialize_with = "super::lenient")]
        on: bool,
    }

    #[test]
    fn numbers_and_booleans_may_come_as_text() {
        let l = super::parse::<L>(r#"{"port": "5433", "on": "true"}"#).unwrap();
        assert_eq!((l.port, l.on), (5433, true));
        assert_eq!(super::parse::<L>(r#"{"port": 5434}"#).unwrap().port, 5434);
        for bad in [r#"{"port": "Zq8-secret"}"#, r#"{"port": "70000"}"#, r#"{"port": [1]}"#] {
            let e = super::parse::<L>(bad).unwrap_err();
            assert!(!e.message.contains("Zq8") && e.message.contains("u16"), "{}", e.message);
        }
    }

    #[test]
    fn unknown_field_is_a_config_error() {
        assert_eq!(super::parse::<C>(r#"{"rows": 3}"#).unwrap().rows, 3);
        let e = super::parse::<C>(r#"{"rowz": 3}"#).unwrap_err();
        assert_eq!(e.category, rapidbyte_protocol::ErrorCategory::Config);
        assert!(e.message.contains("rowz"), "{}", e.message);
    }
}
