//! Installs the tools Mailkey's build and tests need, each only when missing, saying what it
//! installs and why.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// cargo-leptos 0.3.10 is the newest that builds with Rust 1.95 (0.3.11 wants 1.96).
const CARGO_LEPTOS_VERSION: &str = "0.3.10";
/// Debian's binaryen (108) produces wasm that fails at hydration; npm's 132 works. It is pinned
/// in end2end/package.json and put first on PATH for cargo-leptos.
const NPM_DIR: &str = "end2end";
/// Debian packages the tests use (real browser now; mail servers join with the connection test).
/// Chromium for the browser tests; Dovecot, Postfix and openssl (for the test CA) for the
/// connection tests' real mail servers, which the tests configure and start themselves; a
/// PostgreSQL server for the second storage run, on a cluster xtask makes and starts itself.
const TEST_DEBIAN_PACKAGES: &[&str] = &[
    "chromium",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "dovecot-pop3d",
    "postfix",
    "openssl",
    // An independent host-side client for the API's tokens: smtplib and imaplib; and a venv
    // for the independent OpenAPI checker.
    "python3",
    "python3-venv",
    // The server binaries (in /usr/lib/postgresql/<version>/bin), psql, and the `postgres`
    // user the test cluster runs as under root; the system cluster it sets up goes unused.
    "postgresql",
];

/// The OpenAPI document's independent checker, from PyPI, in a venv of its own under target/.
const OPENAPI_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The webhook tests' independent Standard Webhooks verifier, from PyPI, in a venv of its own.
const WEBHOOK_VERIFIER: &str = "standardwebhooks==1.1.0";

/// The venv's checker, installed when missing.
pub fn openapi_validator() -> Result<PathBuf, String> {
    let venv = python_venv(
        "openapi-venv",
        OPENAPI_VALIDATOR,
        "bin/openapi-spec-validator",
    )?;
    Ok(venv.join("bin/openapi-spec-validator"))
}

/// The Python that has the webhook verifier, installed when missing.
pub fn webhook_verifier_python() -> Result<PathBuf, String> {
    let venv = python_venv(
        "webhooks-venv",
        WEBHOOK_VERIFIER,
        "installed-standardwebhooks",
    )?;
    Ok(venv.join("bin/python"))
}

/// A venv under target/tools with `package` installed; `marker` (inside it) says it is done, so
/// an interrupted install is made again.
fn python_venv(name: &str, package: &str, marker: &str) -> Result<PathBuf, String> {
    let venv = root().join("target/tools").join(name);
    let done = venv.join(marker);
    if done.exists() {
        return Ok(venv);
    }
    step(&format!(
        "installing {package} (PyPI) into {}",
        venv.display()
    ));
    // --clear: an interrupted or foreign venv left there is made anew, not patched.
    run(Command::new("/usr/bin/python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", package]))?;
    if !done.exists() {
        std::fs::write(&done, package)
            .map_err(|e| format!("cannot write {}: {e}", done.display()))?;
    }
    Ok(venv)
}

pub fn root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

pub fn step(msg: &str) {
    println!("\n==> {msg}");
}

/// Runs a command, failing with its name when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// The PATH cargo-leptos must see: the npm-installed `wasm-opt` first.
pub fn path_with_npm_bin() -> String {
    let bin = root().join(NPM_DIR).join("node_modules/.bin");
    match std::env::var("PATH") {
        Ok(p) => format!("{}:{p}", bin.display()),
        Err(_) => bin.display().to_string(),
    }
}

/// Everything `cargo leptos build` needs.
pub fn build_tools() -> Result<(), String> {
    wasm_target()?;
    cargo_leptos()?;
    wasm_bindgen()?;
    node_and_npm()?;
    npm_packages()
}

/// Everything the tests need beyond the build: Debian packages (browser, mail servers,
/// PostgreSQL).
pub fn test_tools() -> Result<(), String> {
    debian_packages(TEST_DEBIAN_PACKAGES)
}

/// The connection-test benchmark compares with a minimal Python client.
pub fn bench_tools() -> Result<(), String> {
    // wrk loads the token endpoint from a second process.
    debian_packages(&["python3", "wrk"])
}

fn wasm_target() -> Result<(), String> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    step("installing the Rust target wasm32-unknown-unknown (the browser build)");
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

fn cargo_leptos() -> Result<(), String> {
    if let Some(v) = output(Command::new("cargo").args(["leptos", "--version"])) {
        if v.contains(&format!(" {CARGO_LEPTOS_VERSION}")) {
            return Ok(());
        }
        println!("found {v}; Mailkey is built with cargo-leptos {CARGO_LEPTOS_VERSION}");
    }
    step(&format!(
        "installing cargo-leptos {CARGO_LEPTOS_VERSION} (the Leptos build tool; takes about 15 minutes on 2 cores, once)"
    ));
    run(Command::new("cargo").args([
        "install",
        "cargo-leptos",
        "--version",
        CARGO_LEPTOS_VERSION,
        "--locked",
    ]))
}

/// The version of a package in Cargo.lock.
fn locked_version(package: &str) -> Result<String, String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_string());
            }
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}

fn wasm_bindgen() -> Result<(), String> {
    let wanted = locked_version("wasm-bindgen")?;
    if let Some(v) = output(Command::new("wasm-bindgen").arg("--version")) {
        if v.split_whitespace().nth(1) == Some(wanted.as_str()) {
            return Ok(());
        }
        println!("found {v}; the lockfile wants wasm-bindgen {wanted}");
    }
    step(&format!(
        "installing wasm-bindgen-cli {wanted} (must equal the wasm-bindgen in Cargo.lock; about 2 minutes)"
    ));
    // Without --locked: its own lockfile names a yanked crate the registry no longer serves.
    run(Command::new("cargo").args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &wanted,
        "--force",
    ]))
}

fn node_and_npm() -> Result<(), String> {
    if have("node") && have("npm") {
        return Ok(());
    }
    debian_packages(&["nodejs", "npm"])
}

fn npm_packages() -> Result<(), String> {
    let dir = root().join(NPM_DIR);
    let installed = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (installed.metadata(), lock.metadata()) {
        (Ok(i), Ok(l)) => match (i.modified(), l.modified()) {
            (Ok(i), Ok(l)) => i >= l,
            _ => false,
        },
        _ => false,
    };
    if fresh && dir.join("node_modules/.bin/wasm-opt").exists() {
        return Ok(());
    }
    step("installing npm packages in end2end/ (playwright-core to drive Chromium, binaryen 132 for wasm-opt)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))
}

fn debian_packages(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !have("apt-get") || !is_root() {
        return Err(format!(
            "these Debian packages are needed and missing: {}. Install them (sudo apt-get install {}) and run again",
            missing.join(", "),
            missing.join(" ")
        ));
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    run(Command::new("apt-get")
        .arg("update")
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    if missing.contains(&"postfix") {
        // The tests run their own Postfix; the system one stays unconfigured and stopped.
        let mut preseed = Command::new("debconf-set-selections")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run debconf-set-selections: {e}"))?;
        if let Some(mut stdin) = preseed.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(b"postfix postfix/main_mailer_type select No configuration\n");
        }
        let _ = preseed.wait();
    }
    run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
