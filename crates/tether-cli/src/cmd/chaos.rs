//! `tether chaos`: the fault-injecting server from the testkit.

use crate::ui::Failure;

/// Runs the chaos server until stdin closes (stdio) or forever (HTTP).
pub async fn run(args: tether_testkit::ChaosArgs) -> Result<u8, Failure> {
    match tether_testkit::run(args).await {
        Ok(code) => Ok(code.clamp(0, 255) as u8),
        Err(e) => Err(Failure::failed(format!("chaos server failed: {e}"))),
    }
}
