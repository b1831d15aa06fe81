//! Tether's wire vocabulary, with no I/O: the JSON-RPC 2.0 envelope, MCP payload types, and the
//! NDJSON (stdio) and SSE (HTTP) framings.
//!
//! Decoding is tolerant and says what it repaired; everything here is safe to feed arbitrary bytes.

pub mod jsonrpc;
pub mod mcp;
pub mod ndjson;
pub mod sse;
pub mod version;

pub use jsonrpc::{Decoded, ErrorObject, Id, Message, Notification, Request, Response};
