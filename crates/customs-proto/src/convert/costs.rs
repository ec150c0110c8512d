//! Declared costs and the valuation flag on the wire: a mark as its
//! number, amounts as decimal strings, a flag by its snake-case name (empty
//! for none). Unknown marks and flags are a [`ConversionError`].

use customs_domain::model::{Cost, CostMark};
use customs_domain::valuation::ValueFlag;

use super::{ConversionError, decimal, opt, text};
use crate::v1;

impl From<&Cost> for v1::Cost {
    fn from(cost: &Cost) -> Self {
        v1::Cost {
            mark: match cost.mark {
                CostMark::Rate => 1,
                CostMark::PerTonne => 2,
                CostMark::Total => 3,
            },
            rate: cost.rate.to_string(),
            currency: text(&cost.currency),
        }
    }
}

impl TryFrom<v1::Cost> for Cost {
    type Error = ConversionError;

    fn try_from(cost: v1::Cost) -> Result<Self, Self::Error> {
        Ok(Cost {
            mark: CostMark::from_code(&cost.mark.to_string())
                .ok_or(ConversionError::Unspecified("cost.mark"))?,
            rate: decimal(&cost.rate, "cost.rate")?,
            currency: opt(cost.currency),
        })
    }
}

/// The flag named on the wire; empty is none.
pub(super) fn value_flag(name: &str) -> Result<Option<ValueFlag>, ConversionError> {
    if name.is_empty() {
        return Ok(None);
    }
    ValueFlag::from_name(name)
        .map(Some)
        .ok_or(ConversionError::Unspecified("valuation.flag"))
}
