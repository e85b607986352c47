//! Master key rotation as an operator runs it: `mailkey keys rotate` while tokens are refreshed
//! and handed out, the re-seal pass, `status` and `retire`, a restart at any point, several
//! instances, and a missing key failing closed.

use crate::support;

use std::{process::Command, time::Duration};

use mailkey::secrets::{add_key_file, MasterKey, KEYS_DIR, KEY_FILE};
use support::{
    contoso::{connected, start, Env, Tenant},
    portal::Operator,
    TestServer,
};

/// `mailkey keys …` against a test server's data directory and database.
async fn keys(s: &TestServer, args: &[&str]) -> (bool, String) {
    let data_dir = s.data_dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let s_url = s.database_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailkey"));
        // The test runner's own environment must not leak settings into the command.
        for (k, _) in std::env::vars() {
            if k.starts_with("MAILKEY_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("keys")
            .args(&args)
            .envs(support::database_setting(&s_url))
            .env("MAILKEY_DATA_DIR", &data_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Waits until only `key_id` seals any value, or fails after 20 s.
async fn all_sealed_with(s: &TestServer, key_id: &str) {
    for _ in 0..80 {
        let status = s.state.key_rotation.status().await.unwrap();
        if status.iter().all(|k| k.key_id == key_id || k.total() == 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "values are still sealed with other keys than {key_id}: {:?}",
        s.state.key_rotation.status().await.unwrap()
    );
}

fn legacy_key(s: &TestServer) -> MasterKey {
    let text = std::fs::read_to_string(s.data_dir.path().join(KEY_FILE)).unwrap();
    MasterKey::from_base64(&text).unwrap()
}

#[tokio::test]
async fn a_rotation_under_load_reseals_everything_and_a_restart_reads_it_all() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let old = legacy_key(s).id_hex();
    let (ok, status) = keys(s, &["status"]).await;
    assert!(ok, "{status}");
    assert!(
        status.contains(&old) && status.contains("primary"),
        "{status}"
    );

    // Load: every call refreshes, so refresh and access tokens are sealed anew throughout.
    let tokens = s.state.tokens.clone();
    let load_id = id.clone();
    let (stop_load, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let load = tokio::spawn(async move {
        let mut handed = 0u32;
        loop {
            if stopped.try_recv().is_ok() {
                return handed;
            }
            let t = tokens.access_token_for(&load_id, 0, true).await;
            assert!(t.is_ok(), "a token failed during the rotation");
            handed += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });

    let (ok, out) = keys(s, &["rotate"]).await;
    assert!(ok, "{out}");
    let new = s.state.store.primary_master_key().await.unwrap().unwrap();
    assert_ne!(new, old);
    assert!(
        out.contains(&format!("sealed with master key {new}")),
        "{out}"
    );
    assert!(s
        .data_dir
        .path()
        .join(KEYS_DIR)
        .join(format!("{new}.key"))
        .exists());
    // The running instance follows without a restart, and its own pass catches what it sealed
    // with the old key before it did.
    for _ in 0..60 {
        if s.state.key_rotation.primary() == new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    all_sealed_with(s, &new).await;
    stop_load.send(()).unwrap();
    let handed = load.await.unwrap();
    assert!(handed > 10, "{handed} tokens during the rotation");
    assert_eq!(
        s.state.key_rotation.primary(),
        new,
        "the server seals with the new key"
    );

    let (ok, out) = keys(s, &["retire", &old]).await;
    assert!(ok, "{out}");
    let (_, status) = keys(s, &["status"]).await;
    assert!(status.contains("retired"), "{status}");

    // A restart reads everything with the new key alone (the old one is retired, though its
    // file is still there).
    let Env { server, files } = env;
    let config = server.config.clone();
    drop(op);
    let data = server.stop().await;
    let s = TestServer::start_in(data, config).await;
    assert!(s.state.key_rotation.check().await.unwrap() >= 3);
    // The stored access token, sealed with the new key, is handed out as it is.
    if let Err(e) = s.state.tokens.access_token_for(&id, 0, false).await {
        panic!("{e}");
    }
    s.stop().await;
    drop(files);
}

#[tokio::test]
async fn a_rotation_cut_short_is_finished_by_the_next_start_and_a_missing_key_fails_closed() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    let old = legacy_key(s).id_hex();

    // Bad input changes nothing.
    let (ok, out) = keys(s, &["retire", "not-a-key"]).await;
    assert!(!ok && out.contains("is not a key ID"), "{out}");
    let (ok, out) = keys(s, &["retire", &old]).await;
    assert!(!ok && out.contains("is the primary key"), "{out}");
    let bad = s.data_dir.path().join("short.key");
    std::fs::write(&bad, "c2hvcnQ=").unwrap();
    let (ok, out) = keys(s, &["rotate", "--from-file", bad.to_str().unwrap()]).await;
    assert!(!ok && out.contains("decodes to 5 bytes"), "{out}");
    assert_eq!(
        s.state.store.primary_master_key().await.unwrap().unwrap(),
        old
    );

    // A rotation stopped right after the new key became primary: nothing re-sealed yet.
    let new_key = MasterKey::generate();
    let new = new_key.id_hex();
    add_key_file(&s.data_dir.path().join(KEYS_DIR), &new_key).unwrap();
    s.state.key_rotation.follow().await.unwrap();
    assert!(s.state.store.promote_master_key(&old, &new).await.unwrap());
    // The instance has not followed yet: what it seals now is sealed with the old key.
    s.state.tokens.access_token_for(&id, 0, true).await.unwrap();
    let (ok, out) = keys(s, &["retire", &old]).await;
    assert!(!ok && out.contains("still holds"), "{out}");
    assert!(out.contains("refresh tokens"), "{out}");

    let Env { server, files } = env;
    let config = server.config.clone();
    drop(op);
    let data = server.stop().await;
    let s = TestServer::start_in(data, config.clone()).await;
    all_sealed_with(&s, &new).await;
    assert!(s.state.key_rotation.check().await.unwrap() >= 3);
    if let Err(e) = s.state.tokens.access_token_for(&id, 0, false).await {
        panic!("{e}");
    }
    let (ok, out) = keys(&s, &["retire", &old]).await;
    assert!(ok, "{out}");
    let data = s.stop().await;

    // The new key's file lost: the instance refuses to start rather than seal with another.
    std::fs::remove_file(data.path().join(KEYS_DIR).join(format!("{new}.key"))).unwrap();
    let refused = mailkey::Server::prepare(&config)
        .await
        .err()
        .expect("refused");
    let said = refused.to_string();
    assert!(said.contains(&format!("Copy {new}.key")), "{said}");
    drop(files);
}

#[tokio::test]
async fn a_rotation_waits_for_every_instance_to_hold_the_new_key() {
    let env = start(Tenant::default()).await;
    let s = &env.server;
    let op = Operator::new(s).await;
    let id = connected(&op).await;
    // A second instance with a data directory of its own (another machine), same key.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut config = s.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = elsewhere.path().to_path_buf();
    config.master_key = Some(legacy_key(s));
    let b = TestServer::start_in(tempfile::tempdir().unwrap(), config).await;
    b.state.key_rotation.follow().await.unwrap();

    let (ok, out) = keys(s, &["rotate", "--wait", "3"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("do not hold it yet"), "{out}");
    let old = legacy_key(s).id_hex();
    assert_eq!(
        s.state.store.primary_master_key().await.unwrap().unwrap(),
        old,
        "nothing changed"
    );
    // The operator copies the key file over, and finishes the rotation.
    let written = std::fs::read_dir(s.data_dir.path().join(KEYS_DIR))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let there = elsewhere.path().join(KEYS_DIR);
    std::fs::create_dir_all(&there).unwrap();
    std::fs::copy(&written, there.join(written.file_name().unwrap())).unwrap();
    let (ok, out) = keys(s, &["rotate", "--from-file", written.to_str().unwrap()]).await;
    assert!(ok, "{out}");
    let new = s.state.store.primary_master_key().await.unwrap().unwrap();
    for _ in 0..60 {
        if s.state.key_rotation.primary() == new {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    all_sealed_with(s, &new).await;
    // A token refreshed on the first instance is sealed with the new key…
    s.state.tokens.access_token_for(&id, 0, true).await.unwrap();
    // …and the other instance, sealing with it too, opens it and everything else.
    b.state.key_rotation.follow().await.unwrap();
    assert_eq!(b.state.key_rotation.primary(), new);
    assert!(b.state.key_rotation.check().await.unwrap() >= 3);
    if let Err(e) = b.state.tokens.access_token_for(&id, 0, false).await {
        panic!("{e}");
    }
    b.stop().await;
}
