//! Event-time statistics: panes of exact sums, windows over them,
//! watermarks, and the view that folds the aggregate's changelog into them.
//!
//! Pure: the aggregate service feeds records and wall-clock readings in, and
//! reads answers out. See each module for what it guarantees.

pub mod cell;
pub mod panes;
pub mod query;
pub mod time;
pub mod view;
pub mod watermark;
pub mod window;

pub use cell::{CellKey, Measures};
pub use panes::{BadTime, Misaligned, PaneLayout, Panes};
pub use query::{Dimension, Filter, Query};
pub use time::Minute;
pub use view::{Applied, StatsView};
pub use watermark::Watermarks;
pub use window::Window;
