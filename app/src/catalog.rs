//! The event catalog: every event type Stele knows, its category and its action.
//!
//! The catalog is typed Rust shared by the server and the wasm frontend. An event
//! type that is not in the catalog never becomes a string that slips through: parsing
//! one yields [`UnknownEventType`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// What an event is about. Categories drive the feed's filter pills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Extensions,
    Config,
    Updates,
    Version,
    Maintenance,
    Lifecycle,
    Alerts,
    Security,
    Access,
    Audit,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::Extensions,
        Category::Config,
        Category::Updates,
        Category::Version,
        Category::Maintenance,
        Category::Lifecycle,
        Category::Alerts,
        Category::Security,
        Category::Access,
        Category::Audit,
    ];

    /// The pills of an instance's own feed (SPEC "Views", 1).
    pub const INSTANCE_PILLS: [Category; 6] = [
        Category::Extensions,
        Category::Config,
        Category::Updates,
        Category::Maintenance,
        Category::Alerts,
        Category::Version,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Extensions => "extensions",
            Category::Config => "config",
            Category::Updates => "updates",
            Category::Version => "version",
            Category::Maintenance => "maintenance",
            Category::Lifecycle => "lifecycle",
            Category::Alerts => "alerts",
            Category::Security => "security",
            Category::Access => "access",
            Category::Audit => "audit",
        }
    }

    /// The label shown on a pill.
    pub const fn label(self) -> &'static str {
        match self {
            Category::Extensions => "Extensions",
            Category::Config => "Config",
            Category::Updates => "Updates",
            Category::Version => "Version",
            Category::Maintenance => "Maintenance",
            Category::Lifecycle => "Lifecycle",
            Category::Alerts => "Alerts",
            Category::Security => "Security",
            Category::Access => "Access",
            Category::Audit => "Audit",
        }
    }

    /// Every event type of this category, in catalog order.
    pub fn event_types(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(move |t| t.category() == self)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category name that is not one of [`Category::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category `{0}`")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// What kind of change an event is, derived from its event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    Enable,
    Disable,
    Upload,
    Assign,
    Schedule,
    Install,
    Fail,
    Start,
    End,
    Connect,
    Acknowledge,
    Resolve,
    Restart,
    Login,
    Logout,
    Request,
    Complete,
    Use,
    Grant,
    Revoke,
    Export,
    Purge,
    Sign,
}

impl Action {
    pub const ALL: [Action; 26] = [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Enable,
        Action::Disable,
        Action::Upload,
        Action::Assign,
        Action::Schedule,
        Action::Install,
        Action::Fail,
        Action::Start,
        Action::End,
        Action::Connect,
        Action::Acknowledge,
        Action::Resolve,
        Action::Restart,
        Action::Login,
        Action::Logout,
        Action::Request,
        Action::Complete,
        Action::Use,
        Action::Grant,
        Action::Revoke,
        Action::Export,
        Action::Purge,
        Action::Sign,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Upload => "upload",
            Action::Assign => "assign",
            Action::Schedule => "schedule",
            Action::Install => "install",
            Action::Fail => "fail",
            Action::Start => "start",
            Action::End => "end",
            Action::Connect => "connect",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
            Action::Restart => "restart",
            Action::Login => "login",
            Action::Logout => "logout",
            Action::Request => "request",
            Action::Complete => "complete",
            Action::Use => "use",
            Action::Grant => "grant",
            Action::Revoke => "revoke",
            Action::Export => "export",
            Action::Purge => "purge",
            Action::Sign => "sign",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action name that is not one of [`Action::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// An event type name that is not in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`: not in Stele's catalog")]
pub struct UnknownEventType(pub String);

macro_rules! catalog {
    ($( $variant:ident = $name:literal, $category:ident, $action:ident; )*) => {
        /// Every event type of the catalog (SPEC "The catalog").
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType { $( $variant, )* }

        impl EventType {
            /// The whole catalog, in the SPEC's order.
            pub const ALL: &'static [EventType] = &[ $( EventType::$variant, )* ];

            /// The dotted name, e.g. `config.parameter_pushed`.
            pub const fn as_str(self) -> &'static str {
                match self { $( EventType::$variant => $name, )* }
            }

            pub const fn category(self) -> Category {
                match self { $( EventType::$variant => Category::$category, )* }
            }

            pub const fn action(self) -> Action {
                match self { $( EventType::$variant => Action::$action, )* }
            }

            /// Critical events keep their content whatever the retention (SPEC "The
            /// catalog"): Stele's own audit events and access changes.
            pub const fn is_critical(self) -> bool {
                matches!(self.category(), Category::Audit | Category::Access)
            }

            /// The names of the critical event types.
            pub fn critical() -> impl Iterator<Item = &'static str> {
                Self::ALL.iter().filter(|t| t.is_critical()).map(|t| t.as_str())
            }
        }
    };
}

catalog! {
    ExtensionCreated = "extension.created", Extensions, Create;
    ExtensionUpdated = "extension.updated", Extensions, Update;
    ExtensionDeleted = "extension.deleted", Extensions, Delete;
    ExtensionGreetingUploaded = "extension.greeting_uploaded", Extensions, Upload;

    ConfigParameterPushed = "config.parameter_pushed", Config, Update;
    ConfigSettingChanged = "config.setting_changed", Config, Update;
    TrunkUpdated = "trunk.updated", Config, Update;
    TrunkDeleted = "trunk.deleted", Config, Delete;
    QueueUpdated = "queue.updated", Config, Update;
    QueueDeleted = "queue.deleted", Config, Delete;
    RingGroupUpdated = "ring_group.updated", Config, Update;
    RingGroupDeleted = "ring_group.deleted", Config, Delete;
    ReceptionistUpdated = "receptionist.updated", Config, Update;
    ReceptionistDeleted = "receptionist.deleted", Config, Delete;
    DepartmentUpdated = "department.updated", Config, Update;
    DepartmentDeleted = "department.deleted", Config, Delete;
    PromptUploaded = "prompt.uploaded", Config, Upload;
    PromptAssigned = "prompt.assigned", Config, Assign;
    PromptDeleted = "prompt.deleted", Config, Delete;

    UpdateChannelChanged = "update.channel_changed", Updates, Update;
    UpdateScheduled = "update.scheduled", Updates, Schedule;
    UpdateFailed = "update.failed", Updates, Fail;

    UpdateInstalled = "update.installed", Version, Install;
    InstanceVersionChanged = "instance.version_changed", Version, Update;

    MaintenanceStarted = "maintenance.started", Maintenance, Start;
    MaintenanceEnded = "maintenance.ended", Maintenance, End;
    MaintenanceWindowCreated = "maintenance_window.created", Maintenance, Create;
    MaintenanceWindowDeleted = "maintenance_window.deleted", Maintenance, Delete;
    MaintenancePurged = "maintenance.purged", Maintenance, Purge;

    InstanceCreated = "instance.created", Lifecycle, Create;
    InstanceConnected = "instance.connected", Lifecycle, Connect;
    InstanceReauthenticated = "instance.reauthenticated", Lifecycle, Connect;
    InstanceAddressChanged = "instance.address_changed", Lifecycle, Update;
    InstanceNotificationEmailChanged = "instance.notification_email_changed", Lifecycle, Update;
    StatusPageCreated = "status_page.created", Lifecycle, Create;
    StatusPageUpdated = "status_page.updated", Lifecycle, Update;
    InstanceCredentialsSaved = "instance.credentials_saved", Lifecycle, Update;
    InstanceCredentialsCleared = "instance.credentials_cleared", Lifecycle, Delete;
    InstanceLicenseRefreshed = "instance.license_refreshed", Lifecycle, Update;
    InstanceDeleted = "instance.deleted", Lifecycle, Delete;

    AlertAcknowledged = "alert.acknowledged", Alerts, Acknowledge;
    AlertMuted = "alert.muted", Alerts, Disable;
    AlertResolved = "alert.resolved", Alerts, Resolve;
    AlertAutoResolved = "alert.auto_resolved", Alerts, Resolve;
    ServiceAutoRestarted = "service.auto_restarted", Alerts, Restart;

    AuthLoginSucceeded = "auth.login_succeeded", Security, Login;
    AuthLoginFailed = "auth.login_failed", Security, Fail;
    AuthLogout = "auth.logout", Security, Logout;
    AuthPasswordResetRequested = "auth.password_reset_requested", Security, Request;
    AuthPasswordResetCompleted = "auth.password_reset_completed", Security, Complete;
    AuthMfaFailed = "auth.mfa_failed", Security, Fail;
    AuthRecoveryCodeUsed = "auth.recovery_code_used", Security, Use;

    UserInvited = "user.invited", Access, Create;
    UserRemoved = "user.removed", Access, Delete;
    UserRoleChanged = "user.role_changed", Access, Update;
    InstanceAccessGranted = "instance_access.granted", Access, Grant;
    InstanceAccessRevoked = "instance_access.revoked", Access, Revoke;
    ApiKeyCreated = "api_key.created", Access, Create;
    ApiKeyRevoked = "api_key.revoked", Access, Revoke;
    TenantSettingsChanged = "tenant.settings_changed", Access, Update;

    AuditExported = "audit.exported", Audit, Export;
    AuditPurged = "audit.purged", Audit, Purge;
    AuditCheckpointSigned = "audit.checkpoint_signed", Audit, Sign;
}

impl EventType {
    /// Events no person causes: the platform's own work (SPEC: "by System"). Their
    /// actor is always the System actor.
    pub const fn is_system_only(self) -> bool {
        matches!(
            self,
            EventType::AlertAutoResolved | EventType::ServiceAutoRestarted | EventType::AuditPurged
        )
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_name_is_unique_and_round_trips() {
        let mut seen = HashSet::new();
        for t in EventType::ALL {
            assert!(seen.insert(t.as_str()), "duplicate name {}", t.as_str());
            assert_eq!(t.as_str().parse::<EventType>(), Ok(*t));
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), *t);
        }
    }

    #[test]
    fn the_spec_catalog_is_complete() {
        // The SPEC's list, category by category.
        let spec: &[(Category, &[&str])] = &[
            (
                Category::Extensions,
                &[
                    "extension.created",
                    "extension.updated",
                    "extension.deleted",
                    "extension.greeting_uploaded",
                ],
            ),
            (
                Category::Config,
                &[
                    "config.parameter_pushed",
                    "config.setting_changed",
                    "trunk.updated",
                    "trunk.deleted",
                    "queue.updated",
                    "queue.deleted",
                    "ring_group.updated",
                    "ring_group.deleted",
                    "receptionist.updated",
                    "receptionist.deleted",
                    "department.updated",
                    "department.deleted",
                    "prompt.uploaded",
                    "prompt.assigned",
                    "prompt.deleted",
                ],
            ),
            (
                Category::Updates,
                &[
                    "update.channel_changed",
                    "update.scheduled",
                    "update.failed",
                ],
            ),
            (
                Category::Version,
                &["update.installed", "instance.version_changed"],
            ),
            (
                Category::Maintenance,
                &[
                    "maintenance.started",
                    "maintenance.ended",
                    "maintenance_window.created",
                    "maintenance_window.deleted",
                    "maintenance.purged",
                ],
            ),
            (
                Category::Lifecycle,
                &[
                    "instance.created",
                    "instance.connected",
                    "instance.reauthenticated",
                    "instance.address_changed",
                    "instance.notification_email_changed",
                    "status_page.created",
                    "status_page.updated",
                    "instance.credentials_saved",
                    "instance.credentials_cleared",
                    "instance.license_refreshed",
                    "instance.deleted",
                ],
            ),
            (
                Category::Alerts,
                &[
                    "alert.acknowledged",
                    "alert.muted",
                    "alert.resolved",
                    "alert.auto_resolved",
                    "service.auto_restarted",
                ],
            ),
            (
                Category::Security,
                &[
                    "auth.login_succeeded",
                    "auth.login_failed",
                    "auth.logout",
                    "auth.password_reset_requested",
                    "auth.password_reset_completed",
                    "auth.mfa_failed",
                    "auth.recovery_code_used",
                ],
            ),
            (
                Category::Access,
                &[
                    "user.invited",
                    "user.removed",
                    "user.role_changed",
                    "instance_access.granted",
                    "instance_access.revoked",
                    "api_key.created",
                    "api_key.revoked",
                    "tenant.settings_changed",
                ],
            ),
            (
                Category::Audit,
                &["audit.exported", "audit.purged", "audit.checkpoint_signed"],
            ),
        ];
        let mut total = 0;
        for (category, names) in spec {
            let ours: Vec<&str> = category.event_types().map(EventType::as_str).collect();
            assert_eq!(&ours, names, "category {category}");
            total += names.len();
        }
        assert_eq!(total, EventType::ALL.len());
    }

    #[test]
    fn unknown_names_are_typed_errors() {
        assert_eq!(
            "extension.exploded".parse::<EventType>(),
            Err(UnknownEventType("extension.exploded".into()))
        );
        assert!(serde_json::from_str::<EventType>("\"Extension.Created\"").is_err());
        assert!("".parse::<EventType>().is_err());
        assert_eq!(
            "bogus".parse::<Category>(),
            Err(UnknownCategory("bogus".into()))
        );
        assert_eq!(
            "bogus".parse::<Action>(),
            Err(UnknownAction("bogus".into()))
        );
    }

    #[test]
    fn categories_and_actions_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            assert!(c.event_types().next().is_some(), "{c} has no event type");
        }
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        assert_eq!(EventType::AlertAutoResolved.category(), Category::Alerts);
        assert_eq!(EventType::UserRemoved.action(), Action::Delete);
        assert_eq!(EventType::UpdateInstalled.category(), Category::Version);
    }
}
