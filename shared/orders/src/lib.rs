//! The order: its state machine (`machine`), how its record is laid out in the orders table
//! (`layout`), and reading, writing and flushing that record (`store`). Shared by order-updater,
//! which applies events to it, and order-sweeper, which settles what was left waiting; neither
//! function depends on the other.
pub mod layout;
pub mod machine;
pub mod redact;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
