//! Mailkey's task runner. `cargo xtask run` starts Mailkey, `cargo xtask test` runs every test,
//! `cargo xtask bench` prints the first-load weight. Each first installs what is missing and says
//! so, skipping what is already there, so a fresh Debian machine needs nothing done by hand.
//!
//! Standard library only: this crate is compiled before anything else on a fresh clone.

mod postgres;
mod setup;
mod tasks;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  run [mailkey args]   build the release site and run Mailkey (default: `serve`)
  test                 install what the tests need, then run every check and test
  bench                build the release site and print the first-load weight of the pages
  setup                only install the build and test tools";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let result = match task.as_str() {
        "run" => tasks::run_mailkey(&rest),
        "test" => tasks::test(),
        "bench" => tasks::bench(),
        "setup" => setup::build_tools().and_then(|_| setup::test_tools()),
        "" | "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}
