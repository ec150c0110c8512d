//! Any bytes after a `{` into the JSON parser: never a panic, and whatever it
//! accepts renders back to JSON that parses to the same events.
#![no_main]

use std::sync::OnceLock;

use customs_domain::CodeTables;
use customs_domain::parse::{ParseLimits, parse_message};
use customs_domain::render::render_json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static TABLES: OnceLock<CodeTables> = OnceLock::new();
    let tables = TABLES.get_or_init(CodeTables::embedded);
    let mut message = b"{".to_vec();
    message.extend_from_slice(data);
    if let Ok(events) = parse_message(&message, tables, ParseLimits::default()) {
        for event in events {
            let again = parse_message(render_json(&event).as_bytes(), tables, ParseLimits::default());
            assert_eq!(again, Ok(vec![event]));
        }
    }
});
