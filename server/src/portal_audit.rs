//! The portal's audit trail page: the lines a query selects, with the names the filter offers.
//! The operator sees every organisation's; hand-outs still counted in memory are written first.

use mailkey_app::{
    audit::{AuditLine, AuditQuery, AuditView},
    error::PortalError,
};

use crate::{
    audit::Audit,
    storage::{AuditFilter, StorageError, Store},
};

fn storage(e: StorageError) -> PortalError {
    tracing::error!(error = %e, "audit trail: storage failed");
    PortalError::storage_unavailable()
}

const PAGE: u32 = 50;

pub async fn page(store: &Store, audit: &Audit, q: AuditQuery) -> Result<AuditView, PortalError> {
    audit.flush().await;
    let mut records = store
        .audit_events(&AuditFilter {
            organisation_id: q.organisation.as_deref(),
            account_id: q.account.as_deref(),
            actor_id: q.actor.as_deref(),
            before_id: q.before,
            limit: PAGE + 1,
        })
        .await
        .map_err(storage)?;
    let older = (records.len() > PAGE as usize).then(|| {
        records.truncate(PAGE as usize);
        records.last().expect("a full page").id
    });
    let organisations: Vec<(String, String)> = store
        .organisations(None)
        .await
        .map_err(storage)?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let actors = store
        .api_keys()
        .await
        .map_err(storage)?
        .into_iter()
        .map(|k| (k.id, format!("API key “{}”", k.name)))
        .collect();
    let name_of = |id: &str| {
        organisations
            .iter()
            .find(|(o, _)| o == id)
            .map_or_else(|| id.to_string(), |(_, name)| name.clone())
    };
    let lines = records
        .into_iter()
        .map(|r| AuditLine {
            id: r.id,
            at: r.at,
            first_at: r.first_at,
            actor_kind: r.actor_kind.as_str().into(),
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            organisation: r.organisation_id.map(|id| {
                let name = name_of(&id);
                (id, name)
            }),
            account_id: r.account_id,
            fields: r.fields.0,
            address: r.address,
            count: r.count,
        })
        .collect();
    Ok(AuditView {
        lines,
        organisations,
        actors,
        older,
        retention_days: audit.retention_days(),
    })
}
