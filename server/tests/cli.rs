//! The `mailkey` binary as an operator meets it: help, configuration errors, the setup link in
//! the log, `mailkey admin link`, and a clean stop on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn mailkey() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailkey"));
    // The test runner's own environment must not leak settings into the server under test.
    for (k, _) in std::env::vars() {
        if k.starts_with("MAILKEY_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs a command that must exit by itself; a server that starts instead is killed, failing the
/// test rather than hanging it.
fn output_within(cmd: &mut Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn help_lists_the_subcommands() {
    let out = mailkey().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("serve"), "{text}");
    assert!(text.contains("admin"), "{text}");
    let admin = mailkey().args(["admin", "--help"]).output().unwrap();
    assert!(String::from_utf8(admin.stdout).unwrap().contains("link"));
}

#[test]
fn a_bad_setting_stops_start_up_with_a_helpful_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = output_within(
        mailkey()
            .current_dir(dir.path())
            .env("MAILKEY_LISTEN", "localhost:3000"),
        20,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("invalid value for `listen` (environment variable MAILKEY_LISTEN)"),
        "{err}"
    );
    assert!(
        err.contains("Example: listen = \"127.0.0.1:3000\""),
        "{err}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}

#[test]
fn an_unknown_key_in_the_config_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mailkey.toml"),
        "listen_address = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let out = output_within(mailkey().current_dir(dir.path()).arg("serve"), 20);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown setting `listen_address` in file mailkey.toml"),
        "{err}"
    );
}

struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<serde_json::Value>>,
}

impl Running {
    fn start(data_dir: &std::path::Path) -> Running {
        Running::of(
            mailkey()
                .arg("serve")
                .env("MAILKEY_LISTEN", "127.0.0.1:0")
                .env("MAILKEY_DATA_DIR", data_dir)
                .env("MAILKEY_SITE_DIR", data_dir.join("no-site")),
        )
    }

    /// `cmd` started, its JSON log read as it comes.
    fn of(cmd: &mut Command) -> Running {
        let mut child = cmd
            .env("MAILKEY_LOG_FORMAT", "json")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Default::default(),
        }
    }

    /// The first JSON log line (seen before or arriving within 20 seconds) that has `field`.
    fn wait_for(&self, field: &str) -> serde_json::Value {
        self.wait_until(&format!("with `{field}`"), |v| v.get(field).is_some())
    }

    /// The first JSON log line whose message contains `text`.
    fn wait_for_message(&self, text: &str) -> serde_json::Value {
        self.wait_until(&format!("saying `{text}`"), |v| {
            v["message"].as_str().is_some_and(|m| m.contains(text))
        })
    }

    fn wait_until(
        &self,
        what: &str,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        if let Some(v) = self.seen.borrow().iter().find(|v| wanted(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                self.seen.borrow_mut().push(v.clone());
                if wanted(&v) {
                    return v;
                }
            }
        }
        panic!("no log line {what} in {:?}", self.seen.borrow());
    }

    /// Every log line read so far, and those that arrive within a moment.
    fn log_so_far(&self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(300)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                self.seen.borrow_mut().push(v);
            }
        }
        self.seen
            .borrow()
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let res = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    })
}

#[test]
fn without_a_terminal_the_log_carries_no_setup_link_and_admin_link_prints_fresh_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path());
    let listening = server.wait_for("address");
    let addr = listening["address"].as_str().unwrap().to_string();
    // A service's log goes to a log pipeline: it says how to get a link, and carries none.
    let hint = server.wait_for_message("no operator is signed in");
    assert!(
        hint["message"]
            .as_str()
            .unwrap()
            .contains("mailkey admin link"),
        "{hint}"
    );
    assert_eq!(get(&format!("http://{addr}/healthz")).0, 200);
    let logged = server.log_so_far();
    assert!(
        !logged.contains("token=") && !logged.contains("/setup"),
        "the log carries a setup link: {logged}"
    );

    // `mailkey admin link` writes to the same database while the server runs.
    let admin_link = || {
        let out = mailkey()
            .args(["admin", "link"])
            .env("MAILKEY_DATA_DIR", dir.path())
            .env("MAILKEY_LISTEN", &addr)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let link = admin_link();
    assert!(
        link.starts_with(&format!("http://{addr}/setup?token=")),
        "{link}"
    );
    assert_eq!(get(&link).0, 303, "the link signs in");
    assert_eq!(get(&link).0, 400, "but only once");
    let fresh = admin_link();
    assert_ne!(fresh, link);
    assert_eq!(get(&fresh).0, 303);
}

/// A newcomer's first `cargo xtask run` is one step: on a terminal the link is printed there.
#[test]
fn on_a_terminal_the_first_start_prints_the_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "MAILKEY_DATA_DIR={} MAILKEY_LISTEN=127.0.0.1:0 MAILKEY_SITE_DIR={}/no-site timeout 8 {}",
        dir.path().display(),
        dir.path().display(),
        env!("CARGO_BIN_EXE_mailkey")
    );
    // `script` gives the server a pseudo-terminal, as a person's shell would; `timeout` stops it.
    let out = Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Open this one-time link to sign in") && text.contains("/setup?token="),
        "{text}"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::start(dir.path());
    let addr = server.wait_for("address")["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&format!("http://{addr}/readyz")).0, 200);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let mut stopped = false;
    while let Ok(line) = server.lines.recv_timeout(Duration::from_secs(2)) {
        stopped |= line.contains("Mailkey stopped");
    }
    assert!(stopped, "the server logged its clean stop");
}

/// At a stop signal the instance first says it is draining (`/readyz` 503) while it still
/// serves, for `shutdown_grace_seconds`, so a load balancer takes it out before it stops
/// accepting; then it stops cleanly.
#[test]
fn at_a_stop_signal_readyz_says_draining_while_the_instance_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Running::of(
        mailkey()
            .arg("serve")
            .env("MAILKEY_LISTEN", "127.0.0.1:0")
            .env("MAILKEY_DATA_DIR", dir.path())
            .env("MAILKEY_SITE_DIR", dir.path().join("no-site"))
            .env("MAILKEY_SHUTDOWN_GRACE_SECONDS", "4"),
    );
    let addr = server.wait_for("address")["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&format!("http://{addr}/readyz")).0, 200);
    let signalled = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, body) = loop {
        let (status, body) = get(&format!("http://{addr}/readyz"));
        if status != 200 || signalled.elapsed() > Duration::from_secs(2) {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(
        get(&format!("http://{addr}/healthz")).0,
        200,
        "still serving while draining"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(3500),
        "stopped after {:?}, before its grace",
        signalled.elapsed()
    );
}

/// A database that cannot be reached is named at start (never its password), and nothing runs.
#[test]
fn an_unreachable_database_is_said_by_name_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1 of loopback.
    let out = output_within(
        mailkey()
            .arg("accounts")
            .env("MAILKEY_DATA_DIR", dir.path())
            .env(
                "MAILKEY_DATABASE_URL",
                "postgres://mailkey:pa55-w0rd@127.0.0.1:1/mailkey",
            ),
        60,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot open the database postgres://mailkey@127.0.0.1:1/mailkey"),
        "{err}"
    );
    assert!(!err.contains("pa55-w0rd"), "{err}");

    // A URL that is not PostgreSQL's is refused with the fix, and also never repeated.
    let out = output_within(
        mailkey()
            .arg("accounts")
            .env("MAILKEY_DATA_DIR", dir.path())
            .env("MAILKEY_DATABASE_URL", "mysql://root:pa55-w0rd@db/mailkey"),
        30,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("database_url must start with postgres://"),
        "{err}"
    );
    assert!(!err.contains("pa55-w0rd"), "{err}");
}

#[test]
fn the_standalone_sandbox_serves_the_identity_provider_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Which Mailkey signs in there must be said: its apps accept only that redirect URI.
    let out = output_within(
        mailkey()
            .args(["sandbox", "--listen", "127.0.0.1:0"])
            .env("MAILKEY_DATA_DIR", dir.path()),
        20,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--mailkey-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let sandbox = Running::of(
        mailkey()
            .args(["sandbox", "--listen", "127.0.0.1:0"])
            .args(["--mailkey-url", "https://mailkey.example.com"])
            .env("MAILKEY_DATA_DIR", dir.path())
            .env("MAILKEY_SITE_DIR", dir.path().join("no-site")),
    );
    let listening = sandbox.wait_for_message("sandbox identity provider is listening");
    let base = format!("http://{}", listening["address"].as_str().unwrap());
    let demo = std::fs::read_to_string(dir.path().join("sandbox-demo.toml")).unwrap();
    assert!(
        demo.contains("https://mailkey.example.com/oauth/callback"),
        "{demo}"
    );
    let (status, doc) = get(&format!(
        "{base}/sandbox/demo.mailkey.test/v2.0/.well-known/openid-configuration"
    ));
    assert_eq!(status, 200, "{doc}");
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert!(
        doc["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/sandbox/")),
        "{doc}"
    );
    // Nothing of Mailkey's own is served there.
    assert_eq!(get(&format!("{base}/api/v1/accounts")).0, 404);
    assert_eq!(get(&format!("{base}/healthz")).0, 200);
}
