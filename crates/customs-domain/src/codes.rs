//! Code tables as data: supervision modes, currencies, countries, transport
//! modes, transaction terms, customs districts, provinces, country groups and
//! monthly exchange rates.
//!
//! The tables are CSV files under `data/` (sources in `data/SOURCES.md`),
//! embedded at build time so the pipeline runs with no files around it, and
//! replaceable at run time: [`CodeTables::load`] reads any of them from a
//! directory and keeps the embedded version of the rest. Rows whose `source`
//! column says `unverified` or `illustrative` are best public knowledge and
//! are corrected in the data, never in code.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::classify::TradeCategory;
use crate::model::Direction;

/// A code table that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("code table {table}: {message}")]
pub struct TableError {
    table: &'static str,
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

/// Economic region of a province (NBS four-region split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Eastern provinces.
    Eastern,
    /// Central provinces.
    Central,
    /// Western provinces.
    Western,
    /// North-eastern provinces.
    NorthEastern,
}

impl Region {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Eastern => "eastern",
            Region::Central => "central",
            Region::Western => "western",
            Region::NorthEastern => "north_eastern",
        }
    }
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

#[derive(Deserialize)]
struct TransportRow {
    code: String,
    crosses_border: bool,
}

#[derive(Deserialize)]
struct TermsRow {
    code: String,
    valuation_basis: TermsBasis,
}

/// What the price in a transaction-terms code includes, the
/// `valuation_basis` column of `transaction_terms.csv`: what statistical
/// valuation (imports CIF, exports FOB) adds or deducts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TermsBasis {
    /// Cost, insurance and freight.
    Cif,
    /// Cost and freight.
    Cfr,
    /// Free on board.
    Fob,
    /// Cost and insurance.
    Ci,
    /// Ex works.
    Exw,
    /// No price basis to convert from (market price, 垫仓).
    Other,
}

#[derive(Deserialize)]
struct DistrictRow {
    code: String,
    name_en: String,
    province_code: String,
}

#[derive(Deserialize)]
struct ProvinceRow {
    code: String,
    name_en: String,
    region: Region,
}

#[derive(Deserialize)]
struct GroupRow {
    group: String,
    alpha3: String,
}

#[derive(Deserialize)]
struct RateRow {
    currency: String,
    month: String,
    #[serde(with = "rust_decimal::serde::str")]
    cny_per_unit: Decimal,
}

/// A customs district (directly-subordinate customs, 直属海关).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct District {
    /// English name.
    pub name: String,
    /// GB/T 2260 code of the province it sits in.
    pub province_code: String,
}

/// A province (GB/T 2260 two-digit code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Province {
    /// English name.
    pub name: String,
    /// Economic region.
    pub region: Region,
}

/// Lookup tables for the codes in single-window messages.
#[derive(Debug, Clone, Default)]
pub struct CodeTables {
    currency_by_code: HashMap<String, String>,
    country_by_code: HashMap<String, String>,
    modes: HashMap<String, SupervisionMode>,
    transport_crosses_border: HashMap<String, bool>,
    transaction_terms: HashMap<String, TermsBasis>,
    districts: HashMap<String, District>,
    provinces: HashMap<String, Province>,
    groups_by_country: HashMap<String, Vec<String>>,
    rates: HashMap<String, HashMap<String, Decimal>>,
    version: String,
}

/// The version of a table set: FNV-1a (64 bit) over each table's file name,
/// a zero byte, its bytes and a zero byte, in file-name order, as 16 lower-
/// case hex digits. It names which tables an answer was computed with; it
/// is not a security hash.
fn version_of(texts: &BTreeMap<&str, String>) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for (name, text) in texts {
        for byte in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

/// The table files: name and embedded content.
/// A configured directory must exist, hold at least one table, and no
/// `.csv` file of another name (a misnamed table would otherwise be
/// ignored without a word, and the embedded one used in its place).
fn check_dir(dir: &Path) -> Result<(), TableError> {
    let error = |message: String| TableError {
        table: "directory",
        message,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|err| error(format!("{}: {err}", dir.display())))?;
    let known: Vec<&str> = CodeTables::table_names().collect();
    let mut found = 0;
    for entry in entries {
        let entry = entry.map_err(|err| error(format!("{}: {err}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if known.contains(&name.as_str()) {
            found += 1;
        } else if name.ends_with(".csv") {
            return Err(error(format!(
                "{}: {name} is not a code table (known: {})",
                dir.display(),
                known.join(", ")
            )));
        }
    }
    if found == 0 {
        return Err(error(format!(
            "{} holds none of the code tables ({})",
            dir.display(),
            known.join(", ")
        )));
    }
    Ok(())
}

const TABLES: [(&str, &str); 9] = [
    ("currencies.csv", include_str!("../data/currencies.csv")),
    ("countries.csv", include_str!("../data/countries.csv")),
    (
        "supervision_modes.csv",
        include_str!("../data/supervision_modes.csv"),
    ),
    (
        "transport_modes.csv",
        include_str!("../data/transport_modes.csv"),
    ),
    (
        "transaction_terms.csv",
        include_str!("../data/transaction_terms.csv"),
    ),
    (
        "customs_districts.csv",
        include_str!("../data/customs_districts.csv"),
    ),
    ("provinces.csv", include_str!("../data/provinces.csv")),
    (
        "country_groups.csv",
        include_str!("../data/country_groups.csv"),
    ),
    (
        "exchange_rates.csv",
        include_str!("../data/exchange_rates.csv"),
    ),
];

impl CodeTables {
    /// The tables shipped with the pipeline.
    ///
    /// # Panics
    /// Never in a released build: the embedded files are checked by a unit test.
    pub fn embedded() -> Self {
        Self::from_texts(|_| Ok(None)).expect("embedded code tables are valid")
    }

    /// The tables in `dir` where a file of the same name exists there, the
    /// embedded ones otherwise.
    pub fn load(dir: &Path) -> Result<Self, TableError> {
        check_dir(dir)?;
        Self::from_texts(|name| {
            let path = dir.join(name);
            if !path.is_file() {
                return Ok(None);
            }
            std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|err| TableError {
                    table: "file",
                    message: format!("{}: {err}", path.display()),
                })
        })
    }

    /// The version of this table set (see [`version_of`]): equal for equal
    /// table files, whether embedded or loaded, and different when any byte
    /// of any table differs.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The names of the table files a directory may hold.
    pub fn table_names() -> impl Iterator<Item = &'static str> {
        TABLES.iter().map(|(name, _)| *name)
    }

    /// [`CodeTables::load`] from `dir` when one is configured, else the embedded tables.
    pub fn load_or_embedded(dir: Option<&Path>) -> Result<Self, TableError> {
        match dir {
            Some(dir) => Self::load(dir),
            None => Ok(Self::embedded()),
        }
    }

    fn from_texts(
        mut replacement: impl FnMut(&str) -> Result<Option<String>, TableError>,
    ) -> Result<Self, TableError> {
        let mut texts = BTreeMap::new();
        for (name, embedded) in TABLES {
            let text = replacement(name)?.unwrap_or_else(|| embedded.to_owned());
            texts.insert(name, text);
        }
        let text = |name: &str| texts.get(name).map(String::as_str).unwrap_or("");
        let mut tables = CodeTables {
            version: version_of(&texts),
            ..CodeTables::default()
        };
        for row in read_rows::<CurrencyRow>("currencies", text("currencies.csv"))? {
            tables
                .currency_by_code
                .insert(row.numeric, row.alpha.clone());
            tables.currency_by_code.insert(row.alpha.clone(), row.alpha);
        }
        for row in read_rows::<CountryRow>("countries", text("countries.csv"))? {
            tables
                .country_by_code
                .insert(row.numeric, row.alpha3.clone());
            tables
                .country_by_code
                .insert(row.alpha3.clone(), row.alpha3);
        }
        for mode in
            read_rows::<SupervisionMode>("supervision_modes", text("supervision_modes.csv"))?
        {
            tables.modes.insert(mode.code.clone(), mode);
        }
        for row in read_rows::<TransportRow>("transport_modes", text("transport_modes.csv"))? {
            tables
                .transport_crosses_border
                .insert(row.code, row.crosses_border);
        }
        for row in read_rows::<TermsRow>("transaction_terms", text("transaction_terms.csv"))? {
            tables
                .transaction_terms
                .insert(row.code, row.valuation_basis);
        }
        for row in read_rows::<DistrictRow>("customs_districts", text("customs_districts.csv"))? {
            let district = District {
                name: row.name_en,
                province_code: row.province_code,
            };
            tables.districts.insert(row.code, district);
        }
        for row in read_rows::<ProvinceRow>("provinces", text("provinces.csv"))? {
            let province = Province {
                name: row.name_en,
                region: row.region,
            };
            tables.provinces.insert(row.code, province);
        }
        for row in read_rows::<GroupRow>("country_groups", text("country_groups.csv"))? {
            tables
                .groups_by_country
                .entry(row.alpha3)
                .or_default()
                .push(row.group);
        }
        for groups in tables.groups_by_country.values_mut() {
            groups.sort_unstable();
            groups.dedup();
        }
        for row in read_rows::<RateRow>("exchange_rates", text("exchange_rates.csv"))? {
            if row.cny_per_unit <= Decimal::ZERO {
                return Err(TableError {
                    table: "exchange_rates",
                    message: format!(
                        "{} {} rate {} is not positive",
                        row.currency, row.month, row.cny_per_unit
                    ),
                });
            }
            tables
                .rates
                .entry(row.currency)
                .or_default()
                .insert(row.month, row.cny_per_unit);
        }
        Ok(tables)
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

    /// Whether a transport mode crosses the border; `None` for unknown codes.
    pub fn transport_mode(&self, code: &str) -> Option<bool> {
        self.transport_crosses_border.get(code).copied()
    }

    /// Whether a transaction-terms code exists.
    pub fn has_transaction_terms(&self, code: &str) -> bool {
        self.transaction_terms.contains_key(code)
    }

    /// What the price in transaction terms `code` includes.
    pub fn terms_basis(&self, code: &str) -> Option<TermsBasis> {
        self.transaction_terms.get(code).copied()
    }

    /// The directly-subordinate customs for a customs office code (its first two digits).
    pub fn district(&self, office: &str) -> Option<&District> {
        self.districts.get(office.get(..2)?)
    }

    /// The province for a GB/T 2260 code or a `DistrictCode` (first two digits).
    pub fn province(&self, code: &str) -> Option<&Province> {
        self.provinces.get(code.get(..2)?)
    }

    /// Country groups (e.g. `asean`, `rcep`) an alpha-3 country belongs to, sorted.
    pub fn country_groups(&self, alpha3: &str) -> &[String] {
        self.groups_by_country
            .get(alpha3)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// CNY per unit of `currency` in `month` (`YYYY-MM`); CNY is always 1.
    pub fn cny_rate(&self, currency: &str, month: &str) -> Option<Decimal> {
        if currency == "CNY" {
            return Some(Decimal::ONE);
        }
        self.rates.get(currency)?.get(month).copied()
    }
}

fn read_rows<T: DeserializeOwned>(table: &'static str, text: &str) -> Result<Vec<T>, TableError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .deserialize()
        .enumerate()
        .map(|(index, row)| {
            row.map_err(|err| TableError {
                table,
                message: format!("row {}: {err}", index + 2),
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
        assert_eq!(tables.transport_mode("2"), Some(true));
        assert_eq!(tables.transport_mode("W"), Some(false));
        assert_eq!(
            tables.district("2921").map(|d| d.province_code.as_str()),
            Some("33")
        );
        assert_eq!(
            tables.province("33189").map(|p| p.region),
            Some(Region::Eastern)
        );
        assert!(tables.country_groups("VNM").iter().any(|g| g == "asean"));
        assert_eq!(tables.cny_rate("CNY", "1999-01"), Some(Decimal::ONE));
        assert!(tables.cny_rate("USD", "2026-11").is_some());
    }

    #[test]
    fn every_mode_code_is_four_digits_and_every_group_member_is_a_country() {
        let tables = CodeTables::embedded();
        assert!(tables.modes.len() >= 30);
        for code in tables.modes.keys() {
            assert!(
                code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
                "{code}"
            );
        }
        for alpha3 in tables.groups_by_country.keys() {
            assert_eq!(
                tables.country(alpha3),
                Some(alpha3.as_str()),
                "group member {alpha3}"
            );
        }
    }

    #[test]
    fn a_directory_replaces_only_the_tables_it_holds() {
        let dir = std::env::temp_dir().join(format!("customs-codes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("currencies.csv"),
            "numeric,alpha,name_en,source\n999,XTS,test,test\n",
        )
        .expect("write");
        let tables = CodeTables::load(&dir).expect("tables load");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(tables.currency("999"), Some("XTS"));
        assert_eq!(
            tables.currency("USD"),
            None,
            "the replaced table is the whole table"
        );
        assert_eq!(
            tables.country("502"),
            Some("USA"),
            "other tables stay embedded"
        );
    }

    #[test]
    fn the_version_names_the_table_bytes_wherever_they_come_from() {
        let embedded = CodeTables::embedded();
        assert_eq!(embedded.version().len(), 16);
        let dir = std::env::temp_dir().join(format!("customs-codes-v-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (_, currencies) = TABLES[0];
        std::fs::write(dir.join("currencies.csv"), currencies).expect("write");
        let same = CodeTables::load(&dir).expect("tables load");
        std::fs::write(
            dir.join("currencies.csv"),
            format!("{currencies}999,XTS,test,test\n"),
        )
        .expect("write");
        let changed = CodeTables::load(&dir).expect("tables load");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(same.version(), embedded.version(), "the same bytes, loaded");
        assert_ne!(changed.version(), embedded.version(), "one row more");
    }

    #[test]
    fn a_missing_empty_or_misnamed_directory_is_an_error_not_the_embedded_tables() {
        let base = std::env::temp_dir().join(format!("customs-codes-bad-{}", std::process::id()));
        let error = |dir: &Path| match CodeTables::load(dir) {
            Ok(_) => panic!("{} loaded", dir.display()),
            Err(error) => error.to_string(),
        };
        assert!(error(&base.join("nonexistent")).contains("nonexistent"));
        std::fs::create_dir_all(&base).expect("temp dir");
        assert!(error(&base).contains("holds none of the code tables"));
        std::fs::write(base.join("currency.csv"), "numeric,alpha\n").expect("write");
        let misnamed = error(&base);
        std::fs::remove_dir_all(&base).ok();
        assert!(
            misnamed.contains("currency.csv is not a code table"),
            "{misnamed}"
        );
    }
}
