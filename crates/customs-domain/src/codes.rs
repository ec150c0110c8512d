//! Code tables as data: currencies, countries and supervision modes.
//!
//! The tables are CSV files under `data/`, embedded at build time so the
//! pipeline runs with no files around it. Rows whose `source` column says
//! `unverified` are best public knowledge and may be corrected in the data
//! without touching code.

use std::collections::HashMap;

use serde::Deserialize;

use crate::classify::TradeCategory;
use crate::model::Direction;

const CURRENCIES_CSV: &str = include_str!("../data/currencies.csv");
const COUNTRIES_CSV: &str = include_str!("../data/countries.csv");
const SUPERVISION_MODES_CSV: &str = include_str!("../data/supervision_modes.csv");

/// A code table file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("code table {table} row {row}: {message}")]
pub struct TableError {
    table: &'static str,
    row: usize,
    message: String,
}

/// Which directions a supervision mode may be used in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowedDirection {
    /// Imports and exports.
    Both,
    /// Imports only.
    Import,
    /// Exports only.
    Export,
}

impl AllowedDirection {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AllowedDirection::Both => "both",
            AllowedDirection::Import => "import",
            AllowedDirection::Export => "export",
        }
    }

    /// Whether `direction` is allowed.
    pub fn allows(self, direction: Direction) -> bool {
        match self {
            AllowedDirection::Both => true,
            AllowedDirection::Import => direction == Direction::Import,
            AllowedDirection::Export => direction == Direction::Export,
        }
    }
}

/// One supervision mode (监管方式) row.
#[derive(Debug, Clone, Deserialize)]
pub struct SupervisionMode {
    /// Four-digit code.
    pub code: String,
    /// Chinese and English name.
    pub name: String,
    /// Trade category it classifies into.
    pub category: TradeCategory,
    /// Sub-category (cross-border e-commerce only), empty otherwise.
    pub subcategory: String,
    /// Statistics trade-mode group.
    pub statistics_group: String,
    /// Allowed direction.
    pub direction: AllowedDirection,
    /// Whether goods under this mode count in trade statistics.
    pub in_trade_statistics: bool,
    /// Where the row comes from; `unverified` marks uncertain facts.
    pub source: String,
}

#[derive(Deserialize)]
struct CurrencyRow {
    numeric: String,
    alpha: String,
}

#[derive(Deserialize)]
struct CountryRow {
    numeric: String,
    alpha3: String,
}

/// Lookup tables for the codes in single-window messages.
#[derive(Debug, Clone)]
pub struct CodeTables {
    currency_by_code: HashMap<String, String>,
    country_by_code: HashMap<String, String>,
    modes: HashMap<String, SupervisionMode>,
}

impl CodeTables {
    /// The tables shipped with the pipeline.
    ///
    /// # Panics
    /// Never in a released build: the embedded files are checked by a unit test.
    pub fn embedded() -> Self {
        Self::from_csv(CURRENCIES_CSV, COUNTRIES_CSV, SUPERVISION_MODES_CSV)
            .expect("embedded code tables are valid")
    }

    /// Builds tables from CSV text (same columns as the files under `data/`).
    pub fn from_csv(currencies: &str, countries: &str, modes: &str) -> Result<Self, TableError> {
        let mut currency_by_code = HashMap::new();
        for row in read_rows::<CurrencyRow>("currencies", currencies)? {
            currency_by_code.insert(row.numeric, row.alpha.clone());
            currency_by_code.insert(row.alpha.clone(), row.alpha);
        }
        let mut country_by_code = HashMap::new();
        for row in read_rows::<CountryRow>("countries", countries)? {
            country_by_code.insert(row.numeric, row.alpha3.clone());
            country_by_code.insert(row.alpha3.clone(), row.alpha3);
        }
        let modes = read_rows::<SupervisionMode>("supervision_modes", modes)?
            .into_iter()
            .map(|mode| (mode.code.clone(), mode))
            .collect();
        Ok(CodeTables {
            currency_by_code,
            country_by_code,
            modes,
        })
    }

    /// ISO 4217 code for a numeric JGS-20 (`502`) or alphabetic (`USD`) currency code.
    pub fn currency(&self, code: &str) -> Option<&str> {
        self.currency_by_code.get(code).map(String::as_str)
    }

    /// ISO 3166 alpha-3 code for a numeric JGS-20 (`502`) or alpha-3 (`USA`) country code.
    pub fn country(&self, code: &str) -> Option<&str> {
        self.country_by_code.get(code).map(String::as_str)
    }

    /// The supervision mode row for a four-digit code.
    pub fn supervision_mode(&self, code: &str) -> Option<&SupervisionMode> {
        self.modes.get(code)
    }
}

fn read_rows<T: serde::de::DeserializeOwned>(
    table: &'static str,
    text: &str,
) -> Result<Vec<T>, TableError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .deserialize()
        .enumerate()
        .map(|(index, row)| {
            row.map_err(|err| TableError {
                table,
                row: index + 2,
                message: err.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_and_resolve_both_code_systems() {
        let tables = CodeTables::embedded();
        assert_eq!(tables.currency("502"), Some("USD"));
        assert_eq!(tables.currency("USD"), Some("USD"));
        assert_eq!(tables.currency("999"), None);
        assert_eq!(tables.country("502"), Some("USA"));
        assert_eq!(tables.country("CHN"), Some("CHN"));
        let mode = tables.supervision_mode("9610").map(|m| m.category);
        assert_eq!(mode, Some(TradeCategory::CrossBorderEcommerce));
    }

    #[test]
    fn every_mode_code_is_four_digits() {
        for mode in read_rows::<SupervisionMode>("supervision_modes", SUPERVISION_MODES_CSV)
            .expect("supervision mode table parses")
        {
            assert_eq!(mode.code.len(), 4, "{}", mode.code);
            assert!(
                mode.code.bytes().all(|b| b.is_ascii_digit()),
                "{}",
                mode.code
            );
        }
        assert!(CodeTables::embedded().modes.len() >= 30);
    }
}
