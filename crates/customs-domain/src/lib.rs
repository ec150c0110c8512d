//! Pure domain core of the customs-declaration pipeline.
//!
//! Inputs are raw single-window message bytes (XML in every format the single
//! window sends, or the JSON rendering); outputs are validated [`Event`]s
//! (declarations, inventories, receipts, summary results), a
//! [`Classification`] and a [`Valuation`] per declaration, and exact
//! event-time [`stats`]. Nothing here does I/O, spawns tasks or reads clocks, so every
//! rule can be tested as a plain function or a synchronous state machine.
//!
//! Guarantees:
//! - every input is either a [`Declaration`] or a [`Rejection`] with a reason
//!   from the closed [`RejectReason`] enum — parsing never panics;
//! - money is [`rust_decimal::Decimal`], never binary floating point;
//! - the [`lifecycle`] counts a declaration once, when released, and restates
//!   it exactly on change, withdrawal or supersession.

pub mod classify;
pub mod codes;
pub mod dec_status;
pub mod generator;
pub mod lifecycle;
pub mod model;
pub mod parse;
pub mod reject;
pub mod render;
pub mod sample;
pub mod stats;
pub mod validate;
pub mod valuation;

pub use classify::{Classification, ClassifiedDeclaration, TradeCategory, classify};
pub use codes::CodeTables;
pub use model::{
    AppType, Declaration, Direction, Event, Item, MessageType, Money, Receipt, SummaryResult,
};
pub use reject::{RejectReason, Rejection};
pub use valuation::{Valuation, value};
