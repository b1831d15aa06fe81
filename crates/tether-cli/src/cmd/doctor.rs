//! `tether doctor`: placeholder until the probe ladder lands.

use crate::args::{Cli, DoctorArgs};
use crate::ui::Failure;

/// Runs `tether doctor`.
pub async fn run(_cli: &Cli, _args: &DoctorArgs) -> Result<u8, Failure> {
    Err(Failure::failed("`tether doctor` is not built yet"))
}
