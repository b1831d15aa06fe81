//! `tether-chaos`: the fault-injecting MCP server as a standalone binary (the same code as
//! `tether chaos`), so tests can spawn a real process.

use std::io::Write as _;

use clap::Parser;
use tether_testkit::{ChaosArgs, run};

/// A fault-injecting MCP server (stdio by default, Streamable HTTP with --http).
#[derive(Debug, Parser)]
#[command(name = "tether-chaos", version)]
struct Cli {
    #[command(flatten)]
    args: ChaosArgs,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let code = match run(cli.args).await {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            1
        }
    };
    // Exit here, inside the runtime: dropping it could wait on a blocked stdin reader thread.
    std::process::exit(code);
}
