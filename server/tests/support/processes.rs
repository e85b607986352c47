//! Mailkey as separate processes (the built `mailkey` binary) on one database, signing in and
//! refreshing against one standalone sandbox identity provider (`mailkey sandbox`'s server, run
//! in the test so that a test can slow it down and count what it was asked).
//!
//! An in-process instance sets things up with the usual helpers and lends its address as the
//! deployment's public URL: every process names it as its own, as instances behind one load
//! balancer do, and a test sends each request to the process it chooses, with that origin.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use mailkey::sandbox::{Bound, Sandbox, StandaloneOptions};

use super::contoso::{self, Tenant};

/// The sandbox, the in-process instance and what a process needs to join them.
pub struct Deployment {
    /// The in-process instance: its address is the deployment's public URL.
    pub setup: contoso::Env,
    pub sandbox: Sandbox,
    /// The settings every process starts with.
    env: Vec<(String, String)>,
}

/// How long a process's refresh lease lasts: short, so a takeover is seen within a test.
pub const LEASE_SECONDS: u64 = 5;

impl Deployment {
    pub async fn start() -> Deployment {
        let bound = Bound::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let sandbox_url = format!("http://{}", bound.local_addr());
        let setup = contoso::start_with(Tenant::default(), |c| {
            c.sandbox = false;
            c.sandbox_url = Some(url::Url::parse(&sandbox_url).unwrap());
        })
        .await;
        let s = &setup.server;
        let sandbox_file = setup.files.path().join("sandbox.toml");
        let standalone = bound
            .open(StandaloneOptions {
                public_url: None,
                mailkey_url: url::Url::parse(&s.base).unwrap(),
                sandbox_file: Some(sandbox_file.clone()),
                data_dir: setup.files.path().to_path_buf(),
                site_dir: setup.files.path().join("no-site"),
            })
            .await
            .unwrap();
        let sandbox = standalone.sandbox().clone();
        tokio::spawn(standalone.run(std::future::pending()));

        let data_dir = s.data_dir.path().display().to_string();
        let mut env = vec![
            ("MAILKEY_LISTEN", "127.0.0.1:0".to_string()),
            ("MAILKEY_PUBLIC_URL", s.base.clone()),
            ("MAILKEY_SANDBOX_URL", sandbox_url),
            ("MAILKEY_SANDBOX_FILE", sandbox_file.display().to_string()),
            (
                "MAILKEY_MASTER_KEY_FILE",
                format!("{data_dir}/{}", mailkey::secrets::KEY_FILE),
            ),
            ("MAILKEY_REFRESH_LEASE_SECONDS", LEASE_SECONDS.to_string()),
            ("MAILKEY_LOG_FORMAT", "json".to_string()),
            ("MAILKEY_LOG_LEVEL", "info".to_string()),
            ("MAILKEY_SITE_DIR", format!("{data_dir}/no-site")),
        ];
        // SQLite: the one database file in the data directory, shared. PostgreSQL: its URL, and
        // the data directory stays the processes' own.
        if s.database_url.starts_with("postgres") {
            env.push(("MAILKEY_DATABASE_URL", s.database_url.clone()));
            env.push(("MAILKEY_DATA_DIR", format!("{data_dir}/process")));
        } else {
            env.push(("MAILKEY_DATA_DIR", data_dir));
        }
        Deployment {
            env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            setup,
            sandbox,
        }
    }

    /// The deployment's public URL, as every instance names it (and every page's origin).
    pub fn public_url(&self) -> &str {
        &self.setup.server.base
    }

    /// A `mailkey serve` process, once it listens.
    pub async fn spawn(&self, name: &str) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("MAILKEY_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .arg("serve")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        // Read to the end, so the process never blocks on a full pipe; the address once.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "Mailkey is listening" {
                        let _ = tx.send(v["address"].as_str().unwrap_or("").to_string());
                    }
                }
                kept.lock().unwrap().push(line);
            }
        });
        // Waited for off the runtime: the in-process instance must go on serving meanwhile (a
        // write transaction of its own, left half-done, would lock SQLite for the process).
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .unwrap_or_else(|_| {
                let _ = child.kill();
                let status = child.wait();
                // The reader has the last words once the pipe closes.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "process {name} did not start listening ({status:?}):\n{}",
                    log.lock().unwrap().join("\n")
                )
            });
        Process {
            name: name.to_string(),
            base: format!("http://{addr}"),
            child,
            log,
        }
    }
}

/// A running `mailkey serve`; killed when dropped.
pub struct Process {
    pub name: String,
    /// Its own address, where a test sends what the balancer would forward to it.
    pub base: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Kills it as a crash or the OOM killer would: no shutdown, nothing released.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Its log so far, for a failing test's message.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
