//! The account half of the SQLite store: mutations applied inside `commit`'s
//! transaction, and the readers for users, sessions, instances and API keys.

use super::internal;
use super::sqlite::{corrupt, from_millis};
use app::auth::Role;
use app::entry::InstanceRef;
use app::store::{ApiKeyRecord, InstanceRecord, Mutation, SessionRecord, StoreError, UserRecord};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Row, SqliteConnection};
use std::str::FromStr;
use uuid::Uuid;

const USER_COLUMNS: &str = "id, tenant_id, coalesce(removed_email, email) AS email, name, role, \
     is_super_admin, password_hash, removed_at";

fn parse_uuid(s: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|_| corrupt(what))
}

fn user_from_row(r: &SqliteRow) -> Result<UserRecord, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    let tenant: Option<String> = r.try_get("tenant_id").map_err(internal)?;
    let role: Option<String> = r.try_get("role").map_err(internal)?;
    let removed_at: Option<i64> = r.try_get("removed_at").map_err(internal)?;
    Ok(UserRecord {
        id: parse_uuid(&id, "user id")?,
        tenant_id: tenant.map(|t| parse_uuid(&t, "tenant id")).transpose()?,
        email: r.try_get("email").map_err(internal)?,
        name: r.try_get("name").map_err(internal)?,
        role: role
            .map(|r| Role::from_str(&r).map_err(|_| corrupt("role")))
            .transpose()?,
        super_admin: r.try_get::<i64, _>("is_super_admin").map_err(internal)? != 0,
        password_hash: r.try_get("password_hash").map_err(internal)?,
        removed: removed_at.is_some(),
    })
}

pub async fn user_where(
    pool: &SqlitePool,
    condition: &str,
    value: &str,
) -> Result<Option<UserRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {condition}"
    ))
    .bind(value)
    .fetch_optional(pool)
    .await
    .map_err(internal)?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn users_of(pool: &SqlitePool, tenant_id: Uuid) -> Result<Vec<UserRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ? ORDER BY email"
    ))
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    rows.iter().map(user_from_row).collect()
}

pub async fn session(
    pool: &SqlitePool,
    id_hash: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let row = sqlx::query("SELECT user_id, expires_at, revoked_at FROM sessions WHERE id_hash = ?")
        .bind(id_hash)
        .fetch_optional(pool)
        .await
        .map_err(internal)?;
    row.map(|r| {
        let user: String = r.try_get("user_id").map_err(internal)?;
        let revoked: Option<i64> = r.try_get("revoked_at").map_err(internal)?;
        Ok(SessionRecord {
            user_id: parse_uuid(&user, "user id")?,
            expires_at: from_millis(r.try_get("expires_at").map_err(internal)?)?,
            revoked: revoked.is_some(),
        })
    })
    .transpose()
}

pub async fn instances(
    pool: &SqlitePool,
    tenant_id: Uuid,
) -> Result<Vec<InstanceRecord>, StoreError> {
    let rows =
        sqlx::query("SELECT id, name, deleted FROM instances WHERE tenant_id = ? ORDER BY name")
            .bind(tenant_id.to_string())
            .fetch_all(pool)
            .await
            .map_err(internal)?;
    rows.iter()
        .map(|r| {
            Ok(InstanceRecord {
                id: r.try_get("id").map_err(internal)?,
                name: r.try_get("name").map_err(internal)?,
                deleted: r.try_get::<i64, _>("deleted").map_err(internal)? != 0,
            })
        })
        .collect()
}

const API_KEY_COLUMNS: &str =
    "id, tenant_id, name, prefix, scopes, created_at, revoked_at, created_by";

fn api_key_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ApiKeyRecord, StoreError> {
    let id: String = r.try_get("id").map_err(internal)?;
    let tenant: String = r.try_get("tenant_id").map_err(internal)?;
    let scopes: String = r.try_get("scopes").map_err(internal)?;
    let revoked: Option<i64> = r.try_get("revoked_at").map_err(internal)?;
    Ok(ApiKeyRecord {
        id: parse_uuid(&id, "api key id")?,
        tenant_id: parse_uuid(&tenant, "tenant id")?,
        name: r.try_get("name").map_err(internal)?,
        prefix: r.try_get("prefix").map_err(internal)?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: from_millis(r.try_get("created_at").map_err(internal)?)?,
        revoked: revoked.is_some(),
        created_by: r
            .try_get::<Option<String>, _>("created_by")
            .map_err(internal)?
            .map(|u| parse_uuid(&u, "api key creator"))
            .transpose()?,
    })
}

pub async fn api_keys(pool: &SqlitePool, tenant_id: Uuid) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant_id = ? ORDER BY created_at"
    ))
    .bind(tenant_id.to_string())
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    rows.iter().map(api_key_from_row).collect()
}

pub async fn api_key_by_hash(
    pool: &SqlitePool,
    key_hash: &str,
) -> Result<Option<ApiKeyRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ?"
    ))
    .bind(key_hash)
    .fetch_optional(pool)
    .await
    .map_err(internal)?;
    row.as_ref().map(api_key_from_row).transpose()
}

/// The tenant's own additions to the sensitive-field list.
pub async fn sensitive_fields(
    conn: &mut SqliteConnection,
    tenant_id: Uuid,
) -> Result<Option<Vec<String>>, StoreError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT sensitive_fields FROM tenants WHERE id = ?")
            .bind(tenant_id.to_string())
            .fetch_optional(conn)
            .await
            .map_err(internal)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| super::sqlite::corrupt("sensitive_fields")))
        .transpose()
}

/// Keeps the instance registry current: its latest name, and deleted once deleted.
pub async fn register_instance(
    conn: &mut SqliteConnection,
    tenant_id: Uuid,
    instance: &InstanceRef,
    deleted: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO instances (tenant_id, id, name, deleted) VALUES (?, ?, ?, ?) \
         ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, \
         deleted = MAX(instances.deleted, excluded.deleted)",
    )
    .bind(tenant_id.to_string())
    .bind(&instance.id)
    .bind(&instance.name)
    .bind(i64::from(deleted))
    .execute(conn)
    .await
    .map_err(internal)?;
    Ok(())
}

fn conflict_or_internal(e: sqlx::Error, conflict: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(conflict.to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound("the referenced instance or user".to_owned())
        }
        _ => internal(e),
    }
}

/// Requires that an UPDATE touched exactly one row.
fn one_row(result: sqlx::sqlite::SqliteQueryResult, what: &str) -> Result<(), StoreError> {
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(what.to_owned()))
    }
}

/// Applies one account mutation inside the caller's transaction.
pub async fn apply(
    conn: &mut SqliteConnection,
    mutation: &Mutation,
    now: i64,
) -> Result<(), StoreError> {
    match mutation {
        Mutation::None => {}
        Mutation::CreateSession {
            id_hash,
            user_id,
            expires_at,
        } => {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            )
            .bind(id_hash)
            .bind(user_id.to_string())
            .bind(now)
            .bind(expires_at.timestamp_millis())
            .execute(conn)
            .await
            .map_err(internal)?;
        }
        Mutation::RevokeSession { id_hash } => {
            sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id_hash)
            .execute(conn)
            .await
            .map_err(internal)?;
        }
        Mutation::CreateUser {
            user: u,
            set_password,
        } => {
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, name, role, is_super_admin, \
                 password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(u.id.to_string())
            .bind(u.tenant_id.map(|t| t.to_string()))
            .bind(u.email.trim())
            .bind(&u.name)
            .bind(u.role.map(Role::as_str))
            .bind(i64::from(u.super_admin))
            .bind(&u.password_hash)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict_or_internal(e, "a user with this email already exists"))?;
            if let Some((token_hash, expires_at)) = set_password {
                sqlx::query(
                    "INSERT INTO password_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
                )
                .bind(token_hash)
                .bind(u.id.to_string())
                .bind(expires_at.timestamp_millis())
                .execute(conn)
                .await
                .map_err(internal)?;
            }
        }
        Mutation::UsePasswordToken {
            token_hash,
            password_hash,
        } => {
            let user: Option<String> = sqlx::query_scalar(
                "UPDATE password_tokens SET used_at = ? \
                 WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id",
            )
            .bind(now)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *conn)
            .await
            .map_err(internal)?;
            let user = user.ok_or_else(|| {
                StoreError::Invalid("this set-password link is invalid, used or expired".to_owned())
            })?;
            let done = sqlx::query(
                "UPDATE users SET password_hash = ? WHERE id = ? AND removed_at IS NULL",
            )
            .bind(password_hash)
            .bind(user)
            .execute(conn)
            .await
            .map_err(internal)?;
            one_row(done, "user")?;
        }
        Mutation::ChangeRole { user_id, role } => {
            let done = sqlx::query(
                "UPDATE users SET role = ? WHERE id = ? AND tenant_id IS NOT NULL AND removed_at IS NULL",
            )
            .bind(role.as_str())
            .bind(user_id.to_string())
            .execute(conn)
            .await
            .map_err(internal)?;
            one_row(done, "user")?;
        }
        Mutation::RemoveUser { user_id } => {
            let id = user_id.to_string();
            // The address is freed for a new invitation: the removed record keeps it
            // in `removed_email` (the log keeps its own snapshot anyway).
            let done = sqlx::query(
                "UPDATE users SET removed_at = ?, removed_email = email, \
                 email = id || '@removed.invalid' WHERE id = ? AND removed_at IS NULL",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
            one_row(done, "user")?;
            sqlx::query(
                "UPDATE api_keys SET revoked_at = ? WHERE created_by = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
            sqlx::query("DELETE FROM instance_grants WHERE user_id = ?")
                .bind(&id)
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::Grant {
            user_id,
            instance_id,
        } => {
            sqlx::query(
                "INSERT INTO instance_grants (user_id, tenant_id, instance_id) \
                 SELECT id, tenant_id, ? FROM users WHERE id = ? AND removed_at IS NULL",
            )
            .bind(instance_id)
            .bind(user_id.to_string())
            .execute(conn)
            .await
            .map_err(|e| conflict_or_internal(e, "this user already has access to this instance"))
            .and_then(|r| one_row(r, "user"))?;
        }
        Mutation::Revoke {
            user_id,
            instance_id,
        } => {
            let done =
                sqlx::query("DELETE FROM instance_grants WHERE user_id = ? AND instance_id = ?")
                    .bind(user_id.to_string())
                    .bind(instance_id)
                    .execute(conn)
                    .await
                    .map_err(internal)?;
            one_row(done, "grant")?;
        }
        Mutation::CreateApiKey {
            key,
            key_hash,
            created_by,
        } => {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, scopes, created_by, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(key.id.to_string())
            .bind(key.tenant_id.to_string())
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(key_hash)
            .bind(key.scopes.join(","))
            .bind(created_by.map(|u| u.to_string()))
            .bind(key.created_at.timestamp_millis())
            .execute(conn)
            .await
            .map_err(internal)?;
        }
        Mutation::RevokeApiKey { id } => {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id.to_string())
            .execute(conn)
            .await
            .map_err(internal)?;
            one_row(done, "API key")?;
        }
        Mutation::SetRetention { tenant_id, days } => {
            let done = sqlx::query("UPDATE tenants SET retention_days = ? WHERE id = ?")
                .bind(days.map(i64::from))
                .bind(tenant_id.to_string())
                .execute(conn)
                .await
                .map_err(internal)?;
            one_row(done, "tenant")?;
        }
        Mutation::TransferApiKey { id, to_user } => {
            let done = sqlx::query(
                "UPDATE api_keys SET created_by = ? WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(to_user.to_string())
            .bind(id.to_string())
            .execute(conn)
            .await
            .map_err(internal)?;
            one_row(done, "API key")?;
        }
        Mutation::PurgeAudited {
            tenant_id,
            from_seq,
        } => {
            sqlx::query("INSERT INTO purge_audits (tenant_id, from_seq) VALUES (?, ?)")
                .bind(tenant_id.to_string())
                .bind(from_seq)
                .execute(conn)
                .await
                .map_err(internal)?;
        }
        Mutation::AddCheckpoint(cp) => {
            super::sqlite_integrity::insert_checkpoint(conn, cp).await?;
        }
        Mutation::SetSensitiveFields { tenant_id, fields } => {
            let text = serde_json::to_string(fields).map_err(internal)?;
            let done = sqlx::query("UPDATE tenants SET sensitive_fields = ? WHERE id = ?")
                .bind(text)
                .bind(tenant_id.to_string())
                .execute(conn)
                .await
                .map_err(internal)?;
            one_row(done, "tenant")?;
        }
    }
    Ok(())
}
