//! Classification of a declaration into the trade categories of the README ("What it reads") and `data/supervision_modes.csv`.
//!
//! The rule keys on the full four-digit supervision mode (never its last two
//! digits alone, which would fold cross-border e-commerce into general trade),
//! looked up in the supervision-mode code table. A direction that the mode does
//! not allow is flagged with a reason, not dropped: the figure is still counted
//! and the flag tells the statistician why it is suspect.

use serde::{Deserialize, Serialize};

use crate::codes::CodeTables;
use crate::model::Declaration;
use crate::reject::{RejectReason, Rejection};
use crate::valuation::Valuation;

/// Trade category of a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeCategory {
    /// Cross-border e-commerce: 9610, 1210, 1239, 9710, 9810.
    CrossBorderEcommerce,
    /// Market procurement: 1039 (and the older 0139).
    MarketProcurement,
    /// General trade: 0110.
    GeneralTrade,
    /// Processing trade: 0214, 0615, carry-over codes, ...
    ProcessingTrade,
    /// Bonded logistics: 1233, 1234, 5034.
    BondedLogistics,
    /// Border trade: 4019, 4039.
    BorderTrade,
    /// Every other known supervision mode.
    Other,
}

impl TradeCategory {
    /// All categories, in reporting order.
    pub const ALL: [TradeCategory; 7] = [
        TradeCategory::CrossBorderEcommerce,
        TradeCategory::MarketProcurement,
        TradeCategory::GeneralTrade,
        TradeCategory::ProcessingTrade,
        TradeCategory::BondedLogistics,
        TradeCategory::BorderTrade,
        TradeCategory::Other,
    ];

    /// Stable snake_case name, as used in APIs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TradeCategory::CrossBorderEcommerce => "cross_border_ecommerce",
            TradeCategory::MarketProcurement => "market_procurement",
            TradeCategory::GeneralTrade => "general_trade",
            TradeCategory::ProcessingTrade => "processing_trade",
            TradeCategory::BondedLogistics => "bonded_logistics",
            TradeCategory::BorderTrade => "border_trade",
            TradeCategory::Other => "other",
        }
    }

    /// The category named `name` ([`TradeCategory::as_str`]).
    pub fn from_name(name: &str) -> Option<TradeCategory> {
        TradeCategory::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// The result of classifying one declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// Trade category.
    pub category: TradeCategory,
    /// Sub-category (e.g. `retail_direct`), when the category has them.
    pub subcategory: Option<String>,
    /// Statistics trade-mode group.
    pub statistics_group: String,
    /// Which rule fired on which fields.
    pub explanation: String,
    /// Why the declaration is suspect (e.g. a direction the mode does not allow).
    pub flag: Option<String>,
    /// Whether the supervision mode counts in trade statistics (goods that
    /// cross the border); movements within special areas do not.
    pub in_trade_statistics: bool,
}

/// A declaration together with its classification and valuation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassifiedDeclaration {
    /// The validated declaration.
    pub declaration: Declaration,
    /// Its classification.
    pub classification: Classification,
    /// Its value in CNY and USD.
    pub valuation: Valuation,
}

/// Classifies a declaration by its supervision mode and direction.
pub fn classify(
    declaration: &Declaration,
    tables: &CodeTables,
) -> Result<Classification, Rejection> {
    let code = declaration.supervision_mode.as_str();
    let Some(mode) = tables.supervision_mode(code) else {
        return Err(Rejection::new(
            RejectReason::UnknownSupervisionMode,
            format!("supervision mode {code} is not in the code table"),
        ));
    };
    let direction = declaration.direction.as_str();
    let flag = (!mode.direction.allows(declaration.direction)).then(|| {
        format!(
            "direction_violation: supervision mode {code} is {} only, declaration is {direction}",
            mode.direction.as_str()
        )
    });
    let subcategory = (!mode.subcategory.is_empty()).then(|| mode.subcategory.clone());
    let explanation = format!(
        "{} supervision_mode={code} ({}) -> {}{}; statistics_group={}; direction={direction}; in_trade_statistics={}",
        declaration.message_type.as_str(),
        mode.name,
        mode.category.as_str(),
        subcategory
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default(),
        mode.statistics_group,
        mode.in_trade_statistics,
    );
    Ok(Classification {
        category: mode.category,
        subcategory,
        statistics_group: mode.statistics_group.clone(),
        explanation,
        flag,
        in_trade_statistics: mode.in_trade_statistics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Direction;

    #[test]
    fn special_area_movements_are_not_trade_statistics() {
        let tables = CodeTables::embedded();
        let inside = classify(&declaration("5000", Direction::Import), &tables)
            .unwrap_or_else(|r| panic!("{r}"));
        assert!(!inside.in_trade_statistics);
        let general = classify(&declaration("0110", Direction::Import), &tables)
            .unwrap_or_else(|r| panic!("{r}"));
        assert!(general.in_trade_statistics);
    }

    fn declaration(mode: &str, direction: Direction) -> Declaration {
        let mut declaration = crate::sample::sample_declarations(1).remove(0);
        declaration.supervision_mode = mode.into();
        declaration.direction = direction;
        declaration
    }

    #[test]
    fn categories_follow_the_full_four_digit_code() {
        let tables = CodeTables::embedded();
        let cases = [
            ("0110", TradeCategory::GeneralTrade, None),
            (
                "9610",
                TradeCategory::CrossBorderEcommerce,
                Some("retail_direct"),
            ),
            (
                "1210",
                TradeCategory::CrossBorderEcommerce,
                Some("retail_bonded"),
            ),
            (
                "9710",
                TradeCategory::CrossBorderEcommerce,
                Some("b2b_direct"),
            ),
            (
                "9810",
                TradeCategory::CrossBorderEcommerce,
                Some("overseas_warehouse"),
            ),
            ("1039", TradeCategory::MarketProcurement, None),
            ("0214", TradeCategory::ProcessingTrade, None),
            ("1233", TradeCategory::BondedLogistics, None),
            ("4019", TradeCategory::BorderTrade, None),
            ("4561", TradeCategory::Other, None),
        ];
        for (mode, category, subcategory) in cases {
            let got = classify(&declaration(mode, Direction::Export), &tables)
                .unwrap_or_else(|r| panic!("{mode}: {r}"));
            assert_eq!(got.category, category, "{mode}");
            assert_eq!(got.subcategory.as_deref(), subcategory, "{mode}");
            assert!(got.explanation.contains(mode));
        }
    }

    #[test]
    fn direction_violation_is_flagged_not_dropped() {
        let tables = CodeTables::embedded();
        let got = classify(&declaration("1039", Direction::Import), &tables)
            .unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(got.category, TradeCategory::MarketProcurement);
        let flag = got.flag.unwrap_or_default();
        assert!(flag.starts_with("direction_violation"), "{flag}");
        let ok = classify(&declaration("1039", Direction::Export), &tables)
            .unwrap_or_else(|r| panic!("{r}"));
        assert_eq!(ok.flag, None);
    }

    #[test]
    fn unknown_mode_is_rejected_with_reason() {
        let tables = CodeTables::embedded();
        let err = classify(&declaration("7777", Direction::Import), &tables).err();
        assert_eq!(
            err.map(|e| e.reason),
            Some(RejectReason::UnknownSupervisionMode)
        );
    }
}
