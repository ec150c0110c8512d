//! Filter values in the cells' code system, whatever the user typed: a
//! numeric JGS-20 partner or currency code becomes the alpha code the cells
//! hold (ingest maps them the same way); unknown values stay as given, and
//! so match nothing, as before.

use super::{Dimension, Filter};
use crate::codes::CodeTables;

impl Filter {
    /// The filter with partner and currency codes in the cells' code system:
    /// a numeric JGS-20 code (`502`) becomes its alpha code (`USA`), as
    /// ingest maps them; values the tables do not know stay as given.
    pub fn resolved(&self, tables: &CodeTables) -> Filter {
        let resolve = |value: &String| -> String {
            let known = match self.dimension {
                Dimension::PartnerCountry => tables.country(value),
                Dimension::Currency => tables.currency(value),
                _ => None,
            };
            known.map_or_else(|| value.clone(), str::to_owned)
        };
        Filter {
            dimension: self.dimension,
            values: self.values.iter().map(resolve).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_partner_and_currency_codes_become_the_cells_codes() {
        let tables = CodeTables::embedded();
        let filter = |dimension, value: &str| Filter {
            dimension,
            values: vec![value.to_owned()],
        };
        let resolved = |f: Filter| f.resolved(&tables).values;
        assert_eq!(resolved(filter(Dimension::PartnerCountry, "502")), ["USA"]);
        assert_eq!(resolved(filter(Dimension::PartnerCountry, "USA")), ["USA"]);
        assert_eq!(resolved(filter(Dimension::Currency, "502")), ["USD"]);
        assert_eq!(
            resolved(filter(Dimension::PartnerCountry, "999999")),
            ["999999"]
        );
        // Other dimensions are codes of their own: untouched.
        assert_eq!(resolved(filter(Dimension::CustomsOffice, "502")), ["502"]);
    }
}
