//! Roles and permissions, decided in one place: [`require`]. Every server function and
//! REST handler calls it; nothing depends on the UI having hidden something.
//!
//! Shared with the wasm side so the UI can hide what the server would refuse anyway,
//! but only the server's call is authoritative.

use crate::api::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A per-tenant role. The order is meaningful: `Member < Admin < Owner`, and a check
/// "at least admin" is `role >= Role::Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AppError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "unknown role `{s}`: expected member, admin or owner"
                ))
            })
    }
}

/// Who is calling, as established by the server from a session (or an API key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub user_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    /// The tenant the user belongs to; `None` for a platform-only super admin.
    pub tenant_id: Option<Uuid>,
    pub tenant_slug: Option<String>,
    pub role: Option<Role>,
    pub super_admin: bool,
    /// Instances a member was granted.
    pub grants: Vec<String>,
    /// For a producer calling with an API key: the key's scopes (`events:write`,
    /// `events:read`).
    /// `user_id` is then the key's id and `role` is `None`.
    #[serde(default)]
    pub key_scopes: Option<Vec<String>>,
}

impl Caller {
    /// The caller a tenant API key stands for.
    pub fn api_key(id: Uuid, name: &str, tenant_id: Uuid, scopes: Vec<String>) -> Self {
        Caller {
            user_id: id,
            email: String::new(),
            name: Some(name.to_owned()),
            tenant_id: Some(tenant_id),
            tenant_slug: None,
            role: None,
            super_admin: false,
            grants: Vec::new(),
            key_scopes: Some(scopes),
        }
    }
}

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `audit.view`: read entries of the scope.
    AuditView,
    /// `audit.export`: export entries of the scope.
    AuditExport,
    /// `audit.purge`: purge old entries by hand (super admin only).
    AuditPurge,
    /// Manage users, roles, instance grants and API keys of a tenant.
    ManageAccess,
    /// Post events through the ingestion API (API keys with the `write` scope only).
    EventsWrite,
    /// Register, change and retire the tenant's own event types and switch catalog
    /// packs on and off (owners; API keys with the `catalog:write` scope).
    ManageCatalog,
}

/// What it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The whole platform (the master view, manual purge).
    Platform,
    /// One tenant: its tenant-wide feed and settings.
    Tenant(Uuid),
    /// One instance of one tenant.
    Instance(Uuid, &'a str),
}

fn not_found() -> AppError {
    AppError::NotFound("not found".to_owned())
}

/// The one permission check. Anonymous callers get 401; a tenant's resources asked
/// for from outside the tenant get 404 (so nothing leaks their existence); a caller
/// inside the tenant without the right gets 403 with the reason.
pub fn require(
    caller: Option<&Caller>,
    permission: Permission,
    scope: Scope<'_>,
) -> Result<(), AppError> {
    let Some(caller) = caller else {
        return Err(AppError::Unauthorized("log in to continue".to_owned()));
    };
    if let Some(scopes) = &caller.key_scopes {
        return require_key(caller, scopes, permission, scope);
    }
    if caller.super_admin {
        return Ok(());
    }
    let tenant = match scope {
        Scope::Platform => {
            return Err(AppError::Forbidden(
                "forbidden: only platform super admins may do this".to_owned(),
            ))
        }
        Scope::Tenant(t) | Scope::Instance(t, _) => t,
    };
    if caller.tenant_id != Some(tenant) {
        return Err(not_found());
    }
    let role = caller.role.ok_or_else(not_found)?;
    let allowed = match (permission, &scope) {
        (Permission::AuditPurge | Permission::EventsWrite, _) => false,
        (Permission::AuditView, Scope::Instance(_, instance)) => {
            role >= Role::Admin || caller.grants.iter().any(|g| g == instance)
        }
        (Permission::AuditView | Permission::AuditExport | Permission::ManageAccess, _) => {
            role >= Role::Admin
        }
        (Permission::ManageCatalog, _) => role >= Role::Owner,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(match (permission, scope) {
            (Permission::AuditView, Scope::Instance(..)) => {
                "forbidden: you have no access to this instance's history".to_owned()
            }
            (Permission::AuditView, _) => {
                "forbidden: the tenant-wide feed is for admins and owners".to_owned()
            }
            (Permission::AuditExport, _) => {
                "forbidden: exports are for admins and owners".to_owned()
            }
            (Permission::AuditPurge, _) => {
                "forbidden: only platform super admins may purge".to_owned()
            }
            (Permission::ManageAccess, _) => {
                "forbidden: managing access is for admins and owners".to_owned()
            }
            (Permission::EventsWrite, _) => {
                "forbidden: events are posted with an API key".to_owned()
            }
            (Permission::ManageCatalog, _) => {
                "forbidden: only owners change the tenant's event catalog".to_owned()
            }
        }))
    }
}

/// An API key acts inside its own tenant only, within its scopes: `events:write`
/// posts events, `events:read` reads the tenant's events, `catalog:write` registers
/// event types and switches packs. Nothing else.
fn require_key(
    caller: &Caller,
    scopes: &[String],
    permission: Permission,
    scope: Scope<'_>,
) -> Result<(), AppError> {
    let tenant = match scope {
        Scope::Platform => {
            return Err(AppError::Forbidden(
                "forbidden: API keys act inside their tenant only".to_owned(),
            ))
        }
        Scope::Tenant(t) | Scope::Instance(t, _) => t,
    };
    if caller.tenant_id != Some(tenant) {
        return Err(not_found());
    }
    let needed = match permission {
        Permission::EventsWrite => "events:write",
        Permission::AuditView | Permission::AuditExport => "events:read",
        Permission::ManageCatalog => "catalog:write",
        _ => {
            return Err(AppError::Forbidden(
                "forbidden: API keys can only post and read events and manage the catalog"
                    .to_owned(),
            ))
        }
    };
    if scopes.iter().any(|s| s == needed) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "forbidden: this API key lacks the `{needed}` scope"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Option<Role>, tenant: Uuid, grants: &[&str], super_admin: bool) -> Caller {
        Caller {
            user_id: Uuid::from_u128(1),
            email: "x@example.com".into(),
            name: None,
            tenant_id: role.map(|_| tenant),
            tenant_slug: None,
            role,
            super_admin,
            grants: grants.iter().map(|s| s.to_string()).collect(),
            key_scopes: None,
        }
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Member < Role::Admin && Role::Admin < Role::Owner);
        assert_eq!("owner".parse::<Role>(), Ok(Role::Owner));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn the_permission_matrix() {
        let t = Uuid::from_u128(10);
        let other = Uuid::from_u128(11);
        let member = caller(Some(Role::Member), t, &["pbx-1"], false);
        let admin = caller(Some(Role::Admin), t, &[], false);
        let owner = caller(Some(Role::Owner), t, &[], false);
        let foreign_owner = caller(Some(Role::Owner), other, &[], false);
        let sa = caller(None, t, &[], true);
        use Permission::*;
        let status = |c: Option<&Caller>, p, s| {
            require(c, p, s)
                .map_err(|e| e.status())
                .err()
                .unwrap_or(200)
        };
        // (permission, scope, anonymous, member, admin, owner, foreign owner, super admin)
        let table: &[(Permission, Scope, [u16; 6])] = &[
            (
                AuditView,
                Scope::Instance(t, "pbx-1"),
                [401, 200, 200, 200, 404, 200],
            ),
            (
                AuditView,
                Scope::Instance(t, "pbx-2"),
                [401, 403, 200, 200, 404, 200],
            ),
            (AuditView, Scope::Tenant(t), [401, 403, 200, 200, 404, 200]),
            (
                AuditExport,
                Scope::Tenant(t),
                [401, 403, 200, 200, 404, 200],
            ),
            (
                ManageAccess,
                Scope::Tenant(t),
                [401, 403, 200, 200, 404, 200],
            ),
            (AuditPurge, Scope::Tenant(t), [401, 403, 403, 403, 404, 200]),
            (AuditView, Scope::Platform, [401, 403, 403, 403, 403, 200]),
            (
                EventsWrite,
                Scope::Tenant(t),
                [401, 403, 403, 403, 404, 200],
            ),
        ];
        for (p, s, expected) in table {
            let got = [
                status(None, *p, s.clone()),
                status(Some(&member), *p, s.clone()),
                status(Some(&admin), *p, s.clone()),
                status(Some(&owner), *p, s.clone()),
                status(Some(&foreign_owner), *p, s.clone()),
                status(Some(&sa), *p, s.clone()),
            ];
            assert_eq!(&got, expected, "{p:?} on {s:?}");
        }
    }

    #[test]
    fn api_keys_act_within_their_tenant_and_scopes() {
        let t = Uuid::from_u128(10);
        let writer = Caller::api_key(Uuid::from_u128(2), "w", t, vec!["events:write".into()]);
        let reader = Caller::api_key(Uuid::from_u128(3), "r", t, vec!["events:read".into()]);
        let foreign = Caller::api_key(
            Uuid::from_u128(4),
            "f",
            Uuid::from_u128(11),
            vec!["events:write".into(), "events:read".into()],
        );
        use Permission::*;
        let status = |c: &Caller, p| require(Some(c), p, Scope::Tenant(t)).map_err(|e| e.status());
        assert_eq!(status(&writer, EventsWrite), Ok(()));
        assert_eq!(status(&writer, AuditView), Err(403));
        assert_eq!(status(&reader, AuditView), Ok(()));
        assert_eq!(status(&reader, EventsWrite), Err(403));
        assert_eq!(status(&reader, ManageAccess), Err(403));
        assert_eq!(status(&foreign, EventsWrite), Err(404));
        assert_eq!(status(&foreign, AuditView), Err(404));
        assert_eq!(
            require(Some(&writer), AuditPurge, Scope::Platform).map_err(|e| e.status()),
            Err(403)
        );
    }
}
