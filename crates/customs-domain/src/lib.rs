//! Pure domain core of the customs-declaration pipeline.
//!
//! Inputs are raw single-window message bytes; outputs are validated
//! [`Declaration`]s, their [`Classification`], and exact aggregate
//! [`Totals`]. Nothing here does I/O, spawns tasks or reads clocks, so every
//! rule can be tested as a plain function or a synchronous state machine.
//!
//! Guarantees:
//! - every input is either a [`Declaration`] or a [`Rejection`] with a reason
//!   from the closed [`RejectReason`] enum — parsing never panics;
//! - money is [`rust_decimal::Decimal`], never binary floating point;
//! - [`Totals::record`] counts a declaration identity at most once.

pub mod classify;
pub mod codes;
pub mod model;
pub mod parse;
pub mod reject;
pub mod render;
pub mod sample;
pub mod totals;

pub use classify::{Classification, ClassifiedDeclaration, TradeCategory, classify};
pub use codes::CodeTables;
pub use model::{Declaration, Direction, Item, Money};
pub use reject::{RejectReason, Rejection};
pub use totals::{Recorded, Totals, TotalsRow};
