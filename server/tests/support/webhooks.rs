//! A host's webhook receiver: the Python script beside this file, verifying every delivery with
//! the PyPI `standardwebhooks` package (installed by `cargo xtask test` into
//! target/tools/webhooks-venv).

use std::{
    path::PathBuf,
    process::{Child, Command},
    time::{Duration, Instant},
};

use serde_json::Value;

pub struct Receiver {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("STANDARDWEBHOOKS_PYTHON") {
        return p.into();
    }
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/webhooks-venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test` once, which installs the standardwebhooks \
         verifier from PyPI",
        p.display()
    );
    p
}

/// A free loopback port (nothing listens on it until a receiver starts there).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    /// A receiver for `port`, not started yet (so deliveries fail until [`Receiver::start`]).
    pub fn on(port: u16) -> Receiver {
        Receiver {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    pub fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).unwrap();
    }

    /// Starts listening; each verified delivery is answered `status`.
    pub fn start(&mut self, status: u16) {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/webhook_receiver.py");
        let child = Command::new(python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(self.dir.path().join("secret"))
            .arg(self.dir.path().join("log"))
            .arg(status.to_string())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every delivery received so far, in order.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until a verified delivery of `event_type` arrives; it.
    pub async fn wait_for(&self, event_type: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if let Some(bad) = got.iter().find(|e| e["verified"] != true) {
                panic!("a delivery did not verify: {bad}");
            }
            if let Some(e) = got.iter().find(|e| e["type"] == event_type) {
                return e.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {event_type} delivery within {within:?}; got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
