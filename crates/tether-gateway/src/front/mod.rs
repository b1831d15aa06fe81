//! The ways clients reach the gateway.

pub mod http;
pub mod stdio;
