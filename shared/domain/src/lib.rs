//! The domain of the function estate: events, value types, the pure decision logic of every
//! function, and the ports its effects go through. No cloud SDK, no runtime, no I/O.
pub mod audit;
pub mod cloudevent;
pub mod dead_letter;
pub mod events;
pub mod fnv;
pub mod gateway_http;
pub mod json_text;
pub mod merch;
mod merch_decode;
pub mod mirror;
pub mod ownership;
pub mod ports;
pub mod projection;
pub mod pubsub;
pub mod rfc3339;
pub mod schemas;
pub mod values;

pub use cloudevent::{CloudEvent, DomainEvent};
pub use values::{Currency, Money, OrderId, Quantity, Sku};
