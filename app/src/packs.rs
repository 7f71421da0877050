//! Catalog packs: the event types of the other systems an MSP runs, spelled as those
//! products spell them (`../shared/seeds/003…` monitoring, `../shared/seeds/004…` an
//! API gateway), so they can point their existing audit events at Stele. A tenant
//! switches a pack on with one action; its types then behave like built-in ones.

use crate::catalog::{Action, CategoryName, TypeDef, TypeName, TypeOrigin};

/// One event type of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackType {
    pub name: &'static str,
    /// A built-in category's slug or one of [`PACK_CATEGORIES`].
    pub category: &'static str,
    pub action: Action,
    pub description: &'static str,
    /// Kept whatever the retention (seed 004's critical audit chain).
    pub critical: bool,
}

impl PackType {
    pub fn def(&self, pack: &Pack) -> TypeDef {
        let category = CategoryName::parse(self.category).unwrap_or_default();
        TypeDef {
            name: TypeName::Other(self.name.to_owned()),
            category_label: category.label(),
            category,
            action: self.action,
            description: self.description.to_owned(),
            schema: None,
            critical: self.critical,
            retired: false,
            origin: TypeOrigin::Pack(pack.id.to_owned()),
        }
    }
}

#[derive(Debug)]
pub struct Pack {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub types: &'static [PackType],
}

/// The categories packs add beside the built-in ones: `(slug, pill label)`.
pub const PACK_CATEGORIES: &[(&str, &str)] = &[
    ("hosts", "Hosts"),
    ("alerting", "Alerting"),
    ("dashboards", "Dashboards"),
    ("scripts", "Scripts"),
    ("profiles", "Profiles"),
    ("tenancy", "Tenant"),
    ("routes", "Routes"),
    ("secrets", "Secrets"),
    ("clients", "Clients"),
    ("environments", "Environments"),
    ("kms", "KMS"),
    ("migrations", "Migrations"),
];

/// The label of a pack category.
pub fn category_label(slug: &str) -> Option<&'static str> {
    PACK_CATEGORIES
        .iter()
        .find(|(s, _)| *s == slug)
        .map(|(_, label)| *label)
}

/// The pack a type name belongs to, if any.
pub fn pack_of(name: &str) -> Option<&'static Pack> {
    PACKS
        .iter()
        .find(|p| p.types.iter().any(|t| t.name == name))
}

/// Every pack type's name once, in pack order.
pub fn pack_type_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for t in PACKS.iter().flat_map(|p| p.types) {
        if !names.contains(&t.name) {
            names.push(t.name);
        }
    }
    names
}

pub fn pack(id: &str) -> Option<&'static Pack> {
    PACKS.iter().find(|p| p.id == id)
}

macro_rules! types {
    ($( $name:literal, $category:literal, $action:ident, $critical:literal, $description:literal; )*) => {
        &[ $( PackType {
            name: $name,
            category: $category,
            action: Action::$action,
            description: $description,
            critical: $critical,
        }, )* ]
    };
}

pub static PACKS: &[Pack] = &[
    Pack {
        id: "monitoring",
        name: "Monitoring",
        description: "Hosts and host services (incl. ack and downtime), tenants, alert rules, notification channels, dashboards, monitoring scripts, profiles and profile checks, users and roles, logins",
        types: types! {
            "host.create", "hosts", Create, false, "Host created";
            "host.update", "hosts", Update, false, "Host updated";
            "host.delete", "hosts", Delete, false, "Host deleted";
            "host_service.create", "hosts", Create, false, "Host service created";
            "host_service.update", "hosts", Update, false, "Host service updated";
            "host_service.delete", "hosts", Delete, false, "Host service deleted";
            "host_service.ack", "hosts", Acknowledge, false, "Host service problem acknowledged";
            "host_service.downtime_set", "hosts", Schedule, false, "Downtime set for a host service";
            "tenant.create", "tenancy", Create, false, "Tenant created";
            "tenant.update", "tenancy", Update, false, "Tenant updated (name, slug, settings)";
            "tenant.delete", "tenancy", Delete, false, "Tenant deleted";
            "alert_rule.create", "alerting", Create, false, "Alert rule created";
            "alert_rule.update", "alerting", Update, false, "Alert rule updated (thresholds, channels)";
            "alert_rule.delete", "alerting", Delete, false, "Alert rule deleted";
            "notification_channel.create", "alerting", Create, false, "Notification channel created";
            "notification_channel.update", "alerting", Update, false, "Notification channel updated";
            "notification_channel.delete", "alerting", Delete, false, "Notification channel deleted";
            "dashboard.create", "dashboards", Create, false, "Dashboard created";
            "dashboard.update", "dashboards", Update, false, "Dashboard updated";
            "dashboard.delete", "dashboards", Delete, false, "Dashboard deleted";
            "monitoring_script.create", "scripts", Create, false, "Monitoring script created";
            "monitoring_script.update", "scripts", Update, false, "Monitoring script updated";
            "monitoring_script.delete", "scripts", Delete, false, "Monitoring script deleted";
            "profile.create", "profiles", Create, false, "Profile created";
            "profile.update", "profiles", Update, false, "Profile updated";
            "profile.delete", "profiles", Delete, false, "Profile deleted";
            "profile_check.create", "profiles", Create, false, "Check added to a profile";
            "profile_check.update", "profiles", Update, false, "Profile check updated";
            "profile_check.delete", "profiles", Delete, false, "Check removed from a profile";
            "user.create", "access", Create, false, "User created";
            "user.update", "access", Update, false, "User updated";
            "user.delete", "access", Delete, false, "User deleted";
            "role.create", "access", Create, false, "Role created";
            "role.update", "access", Update, false, "Role updated (permissions)";
            "role.delete", "access", Delete, false, "Role deleted";
            "auth.login_success", "security", Login, false, "Signed in (auth.login_failed is built in)";
        },
    },
    Pack {
        id: "api_gateway",
        name: "API gateway",
        description: "Routes, secrets (rotation), clients and their route assignments, environments, alerts, API keys, tenant settings, team members, tenant KMS (BYOK), secret-store migrations and their item reviews, tenant impersonation",
        types: types! {
            "route.create", "routes", Create, false, "Route created";
            "route.update", "routes", Update, false, "Route updated (target URL, headers, body …)";
            "route.delete", "routes", Delete, false, "Route deleted";
            "route.enable", "routes", Enable, false, "Route enabled";
            "route.disable", "routes", Disable, false, "Route disabled";
            "route.duplicate", "routes", Duplicate, false, "Route duplicated";
            "secret.create", "secrets", Create, false, "Secret created";
            "secret.rotate", "secrets", Rotate, false, "Secret version added (rotation)";
            "secret.update", "secrets", Update, false, "Secret name updated";
            "secret.delete", "secrets", Delete, false, "Secret deleted";
            "client.create", "clients", Create, false, "Client created (IP address added)";
            "client.update", "clients", Update, false, "Client updated (IP or type changed)";
            "client.delete", "clients", Delete, false, "Client deleted";
            "client.enable", "clients", Enable, false, "Client enabled";
            "client.disable", "clients", Disable, false, "Client disabled";
            "client.assign", "clients", Assign, false, "Client assigned to a route";
            "client.unassign", "clients", Unassign, false, "Client unassigned from a route";
            "environment.create", "environments", Create, false, "Environment created";
            "environment.update", "environments", Update, false, "Environment updated (overrides changed)";
            "environment.delete", "environments", Delete, false, "Environment deleted";
            "environment.duplicate", "environments", Duplicate, false, "Environment duplicated";
            "alert.create", "alerting", Create, false, "Alert created";
            "alert.update", "alerting", Update, false, "Alert updated (conditions, channels)";
            "alert.delete", "alerting", Delete, false, "Alert deleted";
            "alert.enable", "alerting", Enable, false, "Alert enabled";
            "alert.disable", "alerting", Disable, false, "Alert disabled";
            "api_key.create", "access", Create, false, "API key created";
            "api_key.revoke", "access", Revoke, false, "API key revoked";
            "tenant.update", "tenancy", Update, false, "Tenant updated (name, slug, settings)";
            "tenant.settings_change", "tenancy", Update, false, "Feature settings changed";
            "team_member.invite", "access", Create, false, "Team member invited";
            "team_member.remove", "access", Delete, false, "Team member removed";
            "team_member.role_change", "access", Update, false, "Team member's role changed";
            "byok.kms.onboard", "kms", Create, true, "Customer KMS provider onboarded";
            "byok.kms.rotate", "kms", Rotate, true, "Tenant master key rotated";
            "byok.kms.unseal", "kms", Unseal, true, "Tenant unsealed";
            "byok.kms.revoke", "kms", Revoke, true, "Tenant master key version revoked (cryptographic erasure)";
            "migration.create", "migrations", Create, true, "Secret-store migration created";
            "migration.cancel", "migrations", Cancel, true, "Migration cancelled";
            "migration.commit", "migrations", Complete, true, "Migration committed as complete";
            "migration.credentials.expired", "migrations", Expire, true, "Migration credentials expired";
            "migration.item.reveal", "migrations", Reveal, true, "Migration item plaintext revealed to a reviewer";
            "migration.item.approve", "migrations", Approve, true, "Migration item approved by a reviewer";
            "migration.item.reject", "migrations", Reject, true, "Migration item rejected by a reviewer";
            "migration.item.expire", "migrations", Expire, true, "Migration item expired after its 7-day TTL";
            "migration.db_proxy_route.create", "migrations", Create, true, "DB proxy route created for a migration";
            "migration.db_proxy_route.delete", "migrations", Delete, true, "DB proxy route deleted";
            "tenant.impersonate", "access", Impersonate, true, "Admin impersonated the tenant (support actions only)";
        },
    },
];

/// The catalog as docs/API.md lists it (between its `catalog:begin` and
/// `catalog:end` markers): every built-in type, then every pack's, from the same
/// definitions ingestion checks against. A test keeps the file equal to this.
pub fn catalog_markdown() -> String {
    use crate::catalog::Category;
    let mut out = String::from(
        "### Built in\n\n| event type | category | action | critical |\n|---|---|---|---|\n",
    );
    for c in Category::ALL {
        for t in c.event_types() {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                t.as_str(),
                c.label(),
                t.action().as_str(),
                if t.is_critical() { "yes" } else { "" }
            ));
        }
    }
    for pack in PACKS {
        out.push_str(&format!(
            "\n### Pack \"{}\" (`{}`)\n\n{}.\n\n| event type | category | action | critical | description |\n|---|---|---|---|---|\n",
            pack.name, pack.id, pack.description
        ));
        for t in pack.types {
            let category = CategoryName::parse(t.category).unwrap_or_default();
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                t.name,
                category.label(),
                t.action.as_str(),
                if t.critical { "yes" } else { "" },
                t.description
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Category, EventType, TenantCatalog, TENANT_NAMESPACE};
    use std::collections::HashMap;

    #[test]
    fn pack_names_are_well_formed_and_never_built_in_or_tenant_names() {
        for pack in PACKS {
            for t in pack.types {
                assert!(crate::catalog::is_dotted_name(t.name), "{}", t.name);
                assert!(
                    t.name.parse::<EventType>().is_err(),
                    "{} is built in",
                    t.name
                );
                assert!(!t.name.starts_with(TENANT_NAMESPACE), "{}", t.name);
                assert!(
                    CategoryName::parse(t.category).is_some_and(|c| c.label() != t.category),
                    "{}: category {} has no label",
                    t.name,
                    t.category
                );
            }
        }
        for t in EventType::ALL {
            assert!(!t.as_str().starts_with(TENANT_NAMESPACE));
        }
        for (slug, _) in PACK_CATEGORIES {
            assert!(slug.parse::<Category>().is_err(), "{slug} is built in");
        }
    }

    #[test]
    fn docs_api_md_lists_the_catalog_as_the_code_defines_it() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md");
        let text = std::fs::read_to_string(path).unwrap();
        let (begin, end) = ("<!-- catalog:begin -->\n", "<!-- catalog:end -->");
        let start = text.find(begin).expect("the begin marker") + begin.len();
        let stop = text.find(end).expect("the end marker");
        let generated = catalog_markdown();
        if std::env::var_os("STELE_WRITE_DOCS").is_some() {
            let updated = format!("{}{generated}{}", &text[..start], &text[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        assert_eq!(
            &text[start..stop],
            generated,
            "docs/API.md is stale: run `STELE_WRITE_DOCS=1 cargo test -p app docs_api_md`"
        );
    }

    #[test]
    fn a_name_in_two_packs_means_the_same_there() {
        let mut seen: HashMap<&str, PackType> = HashMap::new();
        for pack in PACKS {
            let mut names: Vec<&str> = pack.types.iter().map(|t| t.name).collect();
            names.sort();
            let len = names.len();
            names.dedup();
            assert_eq!(names.len(), len, "a duplicate in {}", pack.id);
            for t in pack.types {
                if let Some(other) = seen.insert(t.name, *t) {
                    assert_eq!(
                        (other.category, other.action, other.critical),
                        (t.category, t.action, t.critical),
                        "{}",
                        t.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_gateway_pack_has_seed_004s_fifteen_critical_actions() {
        let gateway = pack("api_gateway").unwrap();
        let mut critical: Vec<&str> = gateway
            .types
            .iter()
            .filter(|t| t.critical)
            .map(|t| t.name)
            .collect();
        critical.sort();
        let mut seed = vec![
            "byok.kms.onboard",
            "byok.kms.rotate",
            "byok.kms.unseal",
            "byok.kms.revoke",
            "migration.create",
            "migration.cancel",
            "migration.commit",
            "migration.credentials.expired",
            "migration.item.reveal",
            "migration.item.approve",
            "migration.item.reject",
            "migration.item.expire",
            "migration.db_proxy_route.create",
            "migration.db_proxy_route.delete",
            "tenant.impersonate",
        ];
        seed.sort();
        assert_eq!(critical, seed);
        let catalog = TenantCatalog::default();
        for name in seed {
            assert!(catalog.critical_names().iter().any(|n| n == name));
        }
    }

    #[test]
    fn a_pack_type_is_writable_only_once_its_pack_is_on() {
        let mut catalog = TenantCatalog::default();
        let err = catalog.resolve("host.create").unwrap_err().to_string();
        assert!(err.contains("\"Monitoring\" pack"), "{err}");
        assert!(err.contains("/api/v1/catalog/packs/monitoring"), "{err}");
        catalog.packs.push("monitoring".into());
        let def = catalog.resolve("host.create").unwrap();
        assert_eq!(def.category.as_str(), "hosts");
        assert_eq!(def.category_label, "Hosts");
        assert!(catalog.resolve("route.create").is_err());
        assert!(catalog.resolve("extension.created").is_ok());
        let unknown = catalog.resolve("host.exploded").unwrap_err().to_string();
        assert!(unknown.contains("POST /api/v1/catalog/types"), "{unknown}");
    }
}
