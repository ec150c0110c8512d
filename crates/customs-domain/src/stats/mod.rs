//! Event-time statistics: the keys owners write ([`stat_key`]), panes of
//! exact sums over them, windows, watermarks, and the serving view that
//! folds the statistics topic.
//!
//! Pure: the aggregate service feeds records and wall-clock readings in, and
//! reads answers out. See each module for what it guarantees.

pub mod cell;
pub mod panes;
pub mod query;
pub mod rollup;
pub mod stat_key;
pub mod time;
pub mod view;
pub mod watermark;
pub mod window;

pub use cell::{CellKey, Measures};
pub use panes::{BadTime, Misaligned, Panes};
pub use query::{Dimension, Filter, Query};
pub use stat_key::{Item, PaneLayout, StatKey, Tier};
pub use time::Minute;
pub use view::StatsView;
pub use watermark::Watermarks;
pub use window::Window;
