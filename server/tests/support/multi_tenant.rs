//! A sandbox with two tenants and an operator's multi-tenant app: Contoso lets users consent
//! and has an app of its own; Fabrikam requires admin consent. The app has two valid secrets, as
//! while one is rotated in.

pub const CONTOSO: &str = "1b7c3e2a-4d5f-4a6b-8c9d-0e1f2a3b4c5d";
pub const FABRIKAM: &str = "2c8d4f3b-5e6a-4b7c-9d0e-1f2a3b4c5d6e";
pub const SINGLE_TENANT_APP: &str = "3d9e5a4c-6f7b-4c8d-8e1f-2a3b4c5d6e7f";
/// Contoso's own app's secret (its `Value` column).
pub const SINGLE_TENANT_APP_SECRET: &str = "Sg93Q~Cd4Ef5Gh6Ij7Kl8Mn9Op0Qr1St2Uv3Wx4Y";
pub const OPERATOR_APP: &str = "4e0f6b5d-7a8c-4d9e-9f2a-3b4c5d6e7f80";
pub const NEW_SECRET: &str = "Nw71Q~Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2W";
pub const OLD_SECRET: &str = "Ol82Q~Xy3Zw4Vu5Ts6Rq7Po8Nm9Lk0Ji1Hg2Fe3D";
pub const OLD_SECRET_ID: &str = "6a2b8d7f-9c0e-4f1a-9b4c-5d6e7f8091a2";

/// The sandbox file (`multi_tenant_sandbox.toml`, shared with the browser tests).
pub fn sandbox_file() -> String {
    include_str!("multi_tenant_sandbox.toml").to_string()
}

/// A server with this sandbox on; the directory holds the sandbox file while it runs.
pub async fn start() -> (super::TestServer, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("sandbox.toml");
    std::fs::write(&path, sandbox_file()).unwrap();
    let s = super::TestServer::start_with(|c| {
        c.sandbox = true;
        c.sandbox_file = Some(path.clone());
    })
    .await;
    (s, files)
}
