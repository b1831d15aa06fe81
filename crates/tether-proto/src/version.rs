//! Protocol revisions Tether speaks.

/// Supported handshake-era revisions, newest first. The first is what Tether asks for.
pub const SUPPORTED: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The revision Tether asks for in `initialize`.
pub const LATEST: &str = SUPPORTED[0];

/// The stateless revision that opens with `server/discover` instead of `initialize`.
pub const STATELESS: &str = "2026-07-28";

/// True when Tether can speak `version`.
pub fn is_supported(version: &str) -> bool {
    SUPPORTED.contains(&version)
}

/// Whether a negotiated revision expects the `MCP-Protocol-Version` header on HTTP requests.
/// 2025-03-26 only defined it for authorization discovery, but sending it is harmless there.
pub fn sends_version_header(_version: &str) -> bool {
    true
}
