//! A PostgreSQL cluster of the tests' own: made in a fresh directory, listening on loopback only,
//! on a free port, with a superuser whose password is random; stopped and removed on drop.
//!
//! Debian's server binaries are run directly rather than through its cluster tools
//! (pg_createcluster, /usr/local/bin symlinks), so the system cluster, if any, is left alone and
//! nothing but the test clusters' own directories is touched.

use std::{
    fs,
    io::{Read, Write},
    net::TcpListener,
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use crate::setup::{is_root, root};

/// Where Debian puts each installed server version's binaries, as `<version>/bin`.
const DEBIAN_SERVERS: &str = "/usr/lib/postgresql";
/// initdb refuses to run as root; this is the system user Debian's package creates.
const SYSTEM_USER: &str = "postgres";
const SUPERUSER: &str = "mailkey";
/// Name prefix of the fallback directories in /tmp, so stale ones can be found again.
const TMP_PREFIX: &str = "mailkey-postgres-";
/// A Unix socket's path must fit in 107 bytes; the server adds `/.s.PGSQL.<port>` (up to 17)
/// to the directory.
const MAX_SOCKET_DIR_LEN: usize = 90;
/// How much of a failed command's output and of the server's log an error shows.
const TAIL_LINES: usize = 30;

/// A running throwaway cluster. Everything it has is in one directory: `data/` (the cluster),
/// `server.log` and the Unix socket.
pub struct TestCluster {
    dir: PathBuf,
    bin: PathBuf,
    owner: Owner,
    port: u16,
    password: String,
}

impl TestCluster {
    /// Makes and starts a cluster, and checks that it answers a query with its password.
    pub fn start() -> Result<TestCluster, String> {
        Self::start_under(&root().join("target/tmp"))
    }

    /// `parent` is where the directory goes if the cluster's owner can reach it; else /tmp.
    fn start_under(parent: &Path) -> Result<TestCluster, String> {
        let bin = server_bin()?;
        let owner = Owner::get()?;
        let dir = fresh_dir(parent, &owner, &bin)?;
        let mut cluster = TestCluster {
            dir,
            bin,
            owner,
            port: 0,
            password: random_hex(16)?,
        };
        // From here on, a failure drops `cluster`, which stops what started and removes the
        // directory.
        cluster.init()?;
        cluster.start_server()?;
        cluster.check_answers()?;
        Ok(cluster)
    }

    /// The superuser's URL, for the `postgres` database (the tests create their own).
    pub fn url(&self) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/postgres",
            self.password, self.port
        )
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn init(&self) -> Result<(), String> {
        // initdb reads the password from a file, so it shows up in no process list; the file
        // cannot go in data/, which initdb wants empty.
        let pwfile = self.dir.join("password");
        write_private(&pwfile, &self.password, &self.owner)?;
        let result = checked(
            self.owner
                .command(&self.bin.join("initdb"))
                .arg("-D")
                .arg(self.data())
                .arg(format!("--username={SUPERUSER}"))
                .arg(format!("--pwfile={}", pwfile.display()))
                // Passwords on every connection, the Unix socket too: no other local user gets
                // in as the superuser.
                .arg("--auth=scram-sha-256")
                .args(["--encoding=UTF8", "--locale=C"])
                // A throwaway cluster: nothing needs to survive a power cut.
                .arg("--no-sync"),
            "creating the test cluster (initdb)",
            None,
        );
        let _ = fs::remove_file(&pwfile);
        result.map(drop)
    }

    fn start_server(&mut self) -> Result<(), String> {
        // The free port may be taken by someone else before the server binds it; then another.
        const ATTEMPTS: usize = 3;
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            // One log per attempt, so the error shows this attempt's failure.
            let _ = fs::remove_file(self.log());
            let started = checked(
                self.owner
                    .command(&self.bin.join("pg_ctl"))
                    .arg("-D")
                    .arg(self.data())
                    .arg("-l")
                    .arg(self.log())
                    .args(["-w", "-t", "60", "-o", &self.server_options(), "start"]),
                &format!(
                    "starting the test cluster on port {} (pg_ctl start)",
                    self.port
                ),
                Some(&self.log()),
            );
            match started {
                Err(_) if attempt < ATTEMPTS && tail(&self.log()).contains("already in use") => {
                    attempt += 1;
                }
                other => return other.map(drop),
            }
        }
    }

    /// The server's settings, through pg_ctl's `-o` (a shell parses them; `fresh_dir` keeps
    /// the directory's path free of characters that would need quoting).
    fn server_options(&self) -> String {
        // `-p` inside `-o`: pg_ctl's own `-p` names the postgres binary.
        [
            format!("-p {}", self.port),
            "-c listen_addresses=127.0.0.1".into(),
            // Never /var/run/postgresql: that is the system cluster's, and may not exist.
            format!("-c unix_socket_directories={}", self.dir.display()),
            // Every test server opens a pool of its own, many at once.
            "-c max_connections=300".into(),
            // A throwaway cluster: crash safety only costs time.
            "-c fsync=off".into(),
            "-c synchronous_commit=off".into(),
            "-c full_page_writes=off".into(),
        ]
        .join(" ")
    }

    /// pg_ctl's wait asks the server whether it is up; this also proves the port, the role and
    /// the password, over TCP like the tests.
    fn check_answers(&self) -> Result<(), String> {
        let answer = checked(
            self.psql(&self.password)
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-c", "SELECT 1"]),
            &format!(
                "connecting to the test cluster (psql to 127.0.0.1:{}, `SELECT 1`)",
                self.port
            ),
            Some(&self.log()),
        )?;
        if answer.trim() == "1" {
            Ok(())
        } else {
            Err(format!(
                "the test cluster answered `SELECT 1` with {answer:?}\nserver.log:\n{}",
                tail(&self.log())
            ))
        }
    }

    /// psql as the superuser with `password`, to the `postgres` database; never prompts, and
    /// prints bare values.
    fn psql(&self, password: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            // -X: no ~/.psqlrc; -w: fail rather than ask for a password.
            .args(["-X", "-w", "-A", "-t", "-U", SUPERUSER, "-d", "postgres"]);
        cmd
    }

    fn stop(&self, mode: &str) -> Result<(), String> {
        checked(
            self.owner
                .command(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", mode, "-w", "stop"]),
            &format!("stopping the test cluster (pg_ctl stop -m {mode})"),
            Some(&self.log()),
        )
        .map(drop)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // postmaster.pid is there from the server's start until it has stopped.
        if self.data().join("postmaster.pid").exists() {
            if let Err(e) = self.stop("fast") {
                eprintln!("xtask: {e}\nxtask: stopping it at once instead");
                if let Err(e) = self.stop("immediate") {
                    eprintln!("xtask: {e}");
                }
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("xtask: cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Who runs the cluster's programs and owns its files: the system user when xtask runs as root
/// (initdb refuses root), else the current user.
struct Owner {
    /// None: the current user, no `runuser` needed.
    user: Option<&'static str>,
    uid: u32,
}

impl Owner {
    fn get() -> Result<Owner, String> {
        if !is_root() {
            let uid = id(&["-u"]).ok_or("cannot tell the current user's id (`id -u`)")?;
            return Ok(Owner { user: None, uid });
        }
        let uid = id(&["-u", SYSTEM_USER]).ok_or_else(|| {
            format!(
                "there is no `{SYSTEM_USER}` user to run the test cluster as (initdb refuses \
                 root); Debian's postgresql package creates it: apt-get install postgresql"
            )
        })?;
        Ok(Owner {
            user: Some(SYSTEM_USER),
            uid,
        })
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = match self.user {
            Some(user) => {
                let mut cmd = Command::new("/usr/sbin/runuser");
                cmd.args(["-u", user, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // xtask's own working directory (/root, say) may be closed to the owner.
        cmd.current_dir("/");
        cmd
    }

    /// Hands `path` (made by us) to the owner.
    fn take(&self, path: &Path) -> Result<(), String> {
        if self.user.is_none() {
            return Ok(());
        }
        std::os::unix::fs::chown(path, Some(self.uid), None)
            .map_err(|e| format!("cannot give {} to {SYSTEM_USER}: {e}", path.display()))
    }

    /// Whether the owner can get to `dir`: asked of the kernel as the owner, so every
    /// directory above it counts (target/ may be under /root or a 0700 directory).
    fn can_reach(&self, dir: &Path) -> bool {
        let mut test = self.command(Path::new("test"));
        test.arg("-x").arg(dir);
        if self.user.is_none() {
            // We make the cluster's directory ourselves, as the owner.
            test.args(["-a", "-w"]).arg(dir);
        }
        test.output().is_ok_and(|o| o.status.success())
    }
}

/// The newest server version's binaries.
fn server_bin() -> Result<PathBuf, String> {
    let missing = || {
        format!(
            "no PostgreSQL server found in {DEBIAN_SERVERS}/<version>/bin; Debian's postgresql \
             package installs one: apt-get install postgresql"
        )
    };
    let entries = fs::read_dir(DEBIAN_SERVERS).map_err(|_| missing())?;
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            // "15", or "9.6" before version 10: compared as numbers, part by part.
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<_>>()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
        .ok_or_else(missing)
}

/// A new directory of the owner's, 0700, under `parent` if the owner can reach it there and its
/// socket path fits, else in /tmp. Stale ones (from a run that was killed: the server outlives
/// it, as pg_ctl detaches it from the terminal) are stopped and removed first.
fn fresh_dir(parent: &Path, owner: &Owner, bin: &Path) -> Result<PathBuf, String> {
    // The count: a bench may run more than one cluster at a time.
    static STARTED: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let name = format!("postgres-{pid}-{}", STARTED.fetch_add(1, Ordering::Relaxed));
    let _ = fs::create_dir_all(parent);
    remove_stale(parent, "postgres-", owner, bin);
    let dir = parent.join(&name);
    if usable_path(&dir) && owner.can_reach(parent) {
        // A directory of this name is from an earlier process that had our pid.
        if dir.symlink_metadata().is_ok() {
            remove_cluster(&dir, owner, bin);
        }
        make_private_dir(&dir, owner)?;
        return Ok(dir);
    }
    // /tmp, not $TMPDIR: every user can reach /tmp, and its path is short and plain. A random
    // name, made by create_dir (which fails if it exists), so nobody can prepare it for us.
    let tmp = Path::new("/tmp");
    remove_stale(tmp, TMP_PREFIX, owner, bin);
    let dir = tmp.join(format!("{TMP_PREFIX}{pid}-{}", random_hex(4)?));
    println!(
        "the test cluster cannot go under {} ({} cannot get to it or write there, or the path \
         is too long or unusual for a socket); it goes in {}",
        parent.display(),
        owner.user.unwrap_or("the current user"),
        dir.display()
    );
    make_private_dir(&dir, owner)?;
    Ok(dir)
}

/// Short enough for the socket, and nothing pg_ctl's shell or the socket directory list would
/// need quoted.
fn usable_path(dir: &Path) -> bool {
    let Some(path) = dir.to_str() else {
        return false;
    };
    path.len() <= MAX_SOCKET_DIR_LEN
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
}

fn make_private_dir(dir: &Path, owner: &Owner) -> Result<(), String> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    owner.take(dir)
}

/// Writes `text` to a new file only the owner can read.
fn write_private(path: &Path, text: &str, owner: &Owner) -> Result<(), String> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    owner.take(path)
}

/// Stops and removes the clusters in `parent` named `<prefix><pid>-…` whose xtask has gone.
fn remove_stale(parent: &Path, prefix: &str, owner: &Owner, bin: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            remove_cluster(&entry.path(), owner, bin);
        }
    }
}

/// Stops a left-behind cluster's server, if it runs, and removes its directory. Only the
/// owner's: pg_ctl, run as the owner, signals whatever pid the directory's postmaster.pid names.
fn remove_cluster(dir: &Path, owner: &Owner, bin: &Path) {
    let owned = dir
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir() && m.uid() == owner.uid);
    if !owned {
        return;
    }
    println!("removing a stale test cluster: {}", dir.display());
    let data = dir.join("data");
    if data.join("postmaster.pid").exists() {
        let _ = owner
            .command(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
    if let Err(e) = fs::remove_dir_all(dir) {
        eprintln!("xtask: cannot remove {}: {e}", dir.display());
    }
}

/// A port nobody listens on now, on loopback.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// `bytes` random bytes, in hex.
fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Runs `cmd` for its stdout. On failure the error says `what` failed and ends with what the
/// command printed, then the tail of `log` if given. The command is shown without its
/// environment, which may hold the password.
fn checked(cmd: &mut Command, what: &str, log: Option<&Path>) -> Result<String, String> {
    let shown = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot start `{shown}`: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let mut msg = format!("{what} failed ({}): `{shown}`", out.status);
    for (label, bytes) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        let text = String::from_utf8_lossy(bytes);
        if !text.trim().is_empty() {
            msg += &format!("\n{label}:\n{}", last_lines(&text));
        }
    }
    if let Some(log) = log {
        msg += &format!("\n{} (its end):\n{}", log.display(), tail(log));
    }
    Err(msg)
}

/// The end of a log file, or why there is none.
fn tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes)),
        Err(e) => format!("(cannot read it: {e})"),
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_processes(data: &Path) -> String {
        let out = Command::new("pgrep")
            .args(["-af", &format!("postgres -D {}", data.display())])
            .output()
            .expect("pgrep runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a cluster under `parent`, checks it, drops it and checks that nothing is left.
    fn starts_answers_and_goes(parent: &Path) -> PathBuf {
        let cluster = TestCluster::start_under(parent).unwrap_or_else(|e| panic!("{e}"));
        let (dir, data) = (cluster.dir.clone(), cluster.data());
        assert!(!server_processes(&data).is_empty(), "the server runs");

        let by_url = Command::new(cluster.bin.join("psql"))
            .arg(cluster.url())
            .args(["-X", "-w", "-A", "-t", "-c", "SELECT current_user"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&by_url.stdout).trim(), "mailkey");

        // A password is needed over TCP and over the socket: other local users are kept out.
        let port = cluster.port.to_string();
        for host in ["127.0.0.1", &cluster.dir.display().to_string()] {
            let wrong = cluster
                .psql("wrong")
                .args(["-h", host, "-p", &port, "-c", "SELECT 1"])
                .output()
                .unwrap();
            assert!(
                !wrong.status.success(),
                "a wrong password is let in on {host}"
            );
            let stderr = String::from_utf8_lossy(&wrong.stderr);
            assert!(
                stderr.contains("password authentication failed"),
                "{stderr}"
            );
        }

        drop(cluster);
        assert_eq!(server_processes(&data), "", "a server of it is left");
        assert!(!dir.exists(), "{} is left", dir.display());
        dir
    }

    #[test]
    #[ignore = "starts a PostgreSQL server (Debian's postgresql package); cargo test -p xtask -- --ignored"]
    fn a_cluster_starts_answers_and_is_gone_after_drop() {
        starts_answers_and_goes(&root().join("target/tmp"));
    }

    #[test]
    #[ignore = "starts a PostgreSQL server (Debian's postgresql package); cargo test -p xtask -- --ignored"]
    fn a_cluster_goes_to_tmp_when_its_owner_cannot_reach_target() {
        if !is_root() {
            // A directory closed to the owner is closed to us too.
            return;
        }
        let closed = root().join(format!("target/tmp/closed-{}", std::process::id()));
        let _ = fs::remove_dir_all(&closed);
        fs::DirBuilder::new().mode(0o700).create(&closed).unwrap();
        let dir = starts_answers_and_goes(&closed.join("inner"));
        fs::remove_dir_all(&closed).unwrap();
        assert!(dir.starts_with("/tmp"), "{}", dir.display());
    }
}
