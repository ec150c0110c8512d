//! Any bytes into the XML parsers: never a panic, and every rejection has a detail.
#![no_main]

use std::sync::OnceLock;

use customs_domain::CodeTables;
use customs_domain::parse::{ParseLimits, parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static TABLES: OnceLock<CodeTables> = OnceLock::new();
    let tables = TABLES.get_or_init(CodeTables::embedded);
    if let Err(rejection) = parse_message(data, tables, ParseLimits::default()) {
        assert!(!rejection.detail.is_empty());
    }
});
