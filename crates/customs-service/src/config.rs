//! Layered configuration for the services.
//!
//! Precedence, lowest to highest (the one place it is written down):
//! 1. the service's `Config::default()`;
//! 2. the TOML file given with `--config`;
//! 3. `KAFKA_BOOTSTRAP_SERVERS` (sets `kafka.bootstrap_servers`);
//! 4. `CUSTOMS_<SERVICE>_<KEY>` variables, nested keys joined with `__`,
//!    e.g. `CUSTOMS_INGEST_KAFKA__GROUP_ID=ingest-a`.
//!
//! Unknown keys are errors (`deny_unknown_fields` on every config struct), so
//! a typo never silently falls back to a default.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Exit code for configuration errors (`EX_USAGE` in sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// A configuration that could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or does not fit the schema.
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    /// The values are individually fine but inconsistent together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Loads `T` from its defaults, an optional TOML file and the environment.
pub fn load<T>(env_prefix: &str, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    if let Ok(servers) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
        figment = figment.merge(Serialized::default("kafka.bootstrap_servers", servers));
    }
    figment = figment.merge(Env::prefixed(env_prefix).split("__"));
    figment
        .extract()
        .map_err(|err| ConfigError::Load(Box::new(err)))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        bootstrap_servers: String,
        group_id: String,
    }

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Sample {
        kafka: Inner,
        limit: u32,
    }

    // figment's Jail fixes the closure's error type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    #[test]
    fn file_then_env_override_defaults_and_typos_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("svc.toml", "limit = 7\n[kafka]\ngroup_id = \"from-file\"\n")?;
            jail.set_env("KAFKA_BOOTSTRAP_SERVERS", "10.0.0.1:9092");
            jail.set_env("CUSTOMS_TEST_KAFKA__GROUP_ID", "from-env");
            let loaded: Sample =
                load("CUSTOMS_TEST_", Some(Path::new("svc.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(loaded.limit, 7);
            assert_eq!(loaded.kafka.group_id, "from-env");
            assert_eq!(loaded.kafka.bootstrap_servers, "10.0.0.1:9092");
            jail.create_file("typo.toml", "limitt = 7\n")?;
            let typo = load::<Sample>("CUSTOMS_TEST_", Some(Path::new("typo.toml")));
            assert!(typo.is_err());
            Ok(())
        });
    }
}
