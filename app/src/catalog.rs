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
    Rotate,
    Unassign,
    Duplicate,
    Unseal,
    Reveal,
    Approve,
    Reject,
    Expire,
    Cancel,
    Impersonate,
    View,
}

impl Action {
    pub const ALL: [Action; 37] = [
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
        Action::Rotate,
        Action::Unassign,
        Action::Duplicate,
        Action::Unseal,
        Action::Reveal,
        Action::Approve,
        Action::Reject,
        Action::Expire,
        Action::Cancel,
        Action::Impersonate,
        Action::View,
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
            Action::Rotate => "rotate",
            Action::Unassign => "unassign",
            Action::Duplicate => "duplicate",
            Action::Unseal => "unseal",
            Action::Reveal => "reveal",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Expire => "expire",
            Action::Cancel => "cancel",
            Action::Impersonate => "impersonate",
            Action::View => "view",
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
    AuditViewed = "audit.viewed", Audit, View;
    CatalogTypeRegistered = "catalog.type_registered", Audit, Create;
    CatalogTypeChanged = "catalog.type_changed", Audit, Update;
    CatalogTypeRetired = "catalog.type_retired", Audit, Disable;
    CatalogPackEnabled = "catalog.pack_enabled", Audit, Enable;
    CatalogPackDisabled = "catalog.pack_disabled", Audit, Disable;
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

impl EventType {
    /// A one-line description: the name in words (`extension.greeting_uploaded`:
    /// "Extension greeting uploaded").
    pub fn describe(self) -> String {
        words(&self.as_str().replace('.', " "))
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

// ---- the open catalog: pack types and a tenant's own types beside the built-in ones ----

/// The namespace of a tenant's own event types: no built-in or pack type starts
/// with it, so a tenant's name can never collide with one Stele ships.
pub const TENANT_NAMESPACE: &str = "custom.";

/// The longest event type or category name.
pub const MAX_NAME_LEN: usize = 100;

/// Whether `s` is a dotted name of lowercase snake-case segments, like
/// `migration.item.reveal` (at least two segments).
pub fn is_dotted_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN && s.split('.').count() >= 2 && s.split('.').all(is_segment)
}

fn is_segment(seg: &str) -> bool {
    let mut chars = seg.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Whether `s` is a category slug: one lowercase snake-case segment.
pub fn is_category_slug(s: &str) -> bool {
    s.len() <= 40 && is_segment(s)
}

/// A name that is not an event type name at all (filters and stored rows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an event type name: expected dotted lowercase words like `route.update`")]
pub struct InvalidTypeName(pub String);

/// An entry's event type: one of the built-in catalog, or another name (a pack's or
/// the tenant's own). Which names a tenant may *write* is decided by
/// [`TenantCatalog::resolve`]; this type only carries a well-formed name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypeName {
    Builtin(EventType),
    /// A well-formed name that is not built in.
    Other(String),
}

impl TypeName {
    pub fn as_str(&self) -> &str {
        match self {
            TypeName::Builtin(t) => t.as_str(),
            TypeName::Other(s) => s,
        }
    }

    pub fn builtin(&self) -> Option<EventType> {
        match self {
            TypeName::Builtin(t) => Some(*t),
            TypeName::Other(_) => None,
        }
    }

    /// Any well-formed name: the built-in type of that name, or another one.
    pub fn parse(s: &str) -> Result<Self, InvalidTypeName> {
        if let Ok(t) = s.parse::<EventType>() {
            return Ok(TypeName::Builtin(t));
        }
        if is_dotted_name(s) {
            Ok(TypeName::Other(s.to_owned()))
        } else {
            Err(InvalidTypeName(s.to_owned()))
        }
    }

    pub fn is_system_only(&self) -> bool {
        self.builtin().is_some_and(EventType::is_system_only)
    }
}

impl From<EventType> for TypeName {
    fn from(t: EventType) -> Self {
        TypeName::Builtin(t)
    }
}

impl PartialEq<EventType> for TypeName {
    fn eq(&self, other: &EventType) -> bool {
        self.builtin() == Some(*other)
    }
}

impl FromStr for TypeName {
    type Err = InvalidTypeName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TypeName::parse(s)
    }
}

/// An entry's category: a built-in one, or a pack's or tenant's (by slug).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CategoryName {
    Builtin(Category),
    Other(String),
}

impl Default for CategoryName {
    fn default() -> Self {
        CategoryName::Other(String::new())
    }
}

impl CategoryName {
    pub fn as_str(&self) -> &str {
        match self {
            CategoryName::Builtin(c) => c.as_str(),
            CategoryName::Other(s) => s,
        }
    }

    /// A slug as a category: the built-in one of that name, or another one.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(c) = s.parse::<Category>() {
            return Some(CategoryName::Builtin(c));
        }
        is_category_slug(s).then(|| CategoryName::Other(s.to_owned()))
    }

    /// The pill label of a built-in or pack category; a tenant's own categories
    /// have their label in the tenant's catalog ([`TenantCatalog::category_label`]),
    /// and without it the slug is shown in words.
    pub fn label(&self) -> String {
        match self {
            CategoryName::Builtin(c) => c.label().to_owned(),
            CategoryName::Other(s) => crate::packs::category_label(s)
                .map(str::to_owned)
                .unwrap_or_else(|| words(s)),
        }
    }
}

/// `host_services` as "Host services".
fn words(slug: &str) -> String {
    let text = slug.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A text that is not a category slug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a category: expected one lowercase word like `config` or `routes`")]
pub struct InvalidCategory(pub String);

impl FromStr for CategoryName {
    type Err = InvalidCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CategoryName::parse(s).ok_or_else(|| InvalidCategory(s.to_owned()))
    }
}

impl From<Category> for CategoryName {
    fn from(c: Category) -> Self {
        CategoryName::Builtin(c)
    }
}

impl PartialEq<Category> for CategoryName {
    fn eq(&self, other: &Category) -> bool {
        *self == CategoryName::Builtin(*other)
    }
}

/// Where an event type comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum TypeOrigin {
    Builtin,
    /// A catalog pack, by id (`monitoring`, `api_gateway`).
    Pack(String),
    /// The tenant registered it.
    Tenant,
}

/// One event type as a tenant's catalog lists it: built in, from a pack, or its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    pub name: TypeName,
    pub category: CategoryName,
    pub category_label: String,
    pub action: Action,
    pub description: String,
    /// JSON Schema the event's `metadata` must satisfy (tenant types only).
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    /// Kept whatever the retention.
    pub critical: bool,
    /// No longer accepted; its entries stay readable.
    #[serde(default)]
    pub retired: bool,
    pub origin: TypeOrigin,
}

impl TypeDef {
    pub fn builtin(t: EventType) -> Self {
        TypeDef {
            name: TypeName::Builtin(t),
            category: CategoryName::Builtin(t.category()),
            category_label: t.category().label().to_owned(),
            action: t.action(),
            description: t.describe(),
            schema: None,
            critical: t.is_critical(),
            retired: false,
            origin: TypeOrigin::Builtin,
        }
    }
}

/// A type the tenant registered itself (stored in its catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantType {
    /// `custom.` followed by dotted lowercase words.
    pub name: String,
    /// A built-in or pack category's slug, or the tenant's own.
    pub category: String,
    /// The pill label of the tenant's own category (ignored for known ones).
    #[serde(default)]
    pub category_label: Option<String>,
    pub action: Action,
    pub description: String,
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub retired: bool,
}

/// A type as an owner or producer registers or changes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeInput {
    pub name: String,
    pub category: String,
    #[serde(default)]
    pub category_label: Option<String>,
    pub action: Action,
    pub description: String,
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    #[serde(default)]
    pub critical: bool,
}

/// What a tenant can receive beyond the built-in catalog: the packs it switched on
/// and the types it registered. Stored as one JSON document per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCatalog {
    #[serde(default)]
    pub packs: Vec<String>,
    #[serde(default)]
    pub types: Vec<TenantType>,
}

/// Why a tenant may not write an event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unwritable {
    #[error("unknown event type `{0}`: not in Stele's catalog, a switched-on pack or this tenant's own types; register it with POST /api/v1/catalog/types (name `custom.…`, scope `catalog:write`) or switch on the pack that has it (see /catalog)")]
    Unknown(String),
    #[error("event type `{name}` belongs to the \"{pack}\" pack, which this tenant has not switched on: POST /api/v1/catalog/packs/{pack_id}")]
    PackOff {
        name: String,
        pack: &'static str,
        pack_id: &'static str,
    },
    #[error("event type `{0}` was retired: its entries stay readable, new ones are refused")]
    Retired(String),
}

impl TenantCatalog {
    pub fn has_pack(&self, id: &str) -> bool {
        self.packs.iter().any(|p| p == id)
    }

    /// The definition of a type this tenant may write now.
    pub fn resolve(&self, name: &str) -> Result<TypeDef, Unwritable> {
        if let Ok(t) = name.parse::<EventType>() {
            return Ok(TypeDef::builtin(t));
        }
        if let Some(own) = self.types.iter().find(|t| t.name == name) {
            let def = self.own_def(own);
            return if own.retired {
                Err(Unwritable::Retired(name.to_owned()))
            } else {
                Ok(def)
            };
        }
        let mut off = None;
        for pack in crate::packs::PACKS {
            if let Some(t) = pack.types.iter().find(|t| t.name == name) {
                if self.has_pack(pack.id) {
                    return Ok(t.def(pack));
                }
                off.get_or_insert(Unwritable::PackOff {
                    name: name.to_owned(),
                    pack: pack.name,
                    pack_id: pack.id,
                });
            }
        }
        Err(off.unwrap_or_else(|| Unwritable::Unknown(name.to_owned())))
    }

    fn own_def(&self, t: &TenantType) -> TypeDef {
        let category = CategoryName::parse(&t.category).unwrap_or_default();
        TypeDef {
            name: TypeName::Other(t.name.clone()),
            category_label: self.category_label(&category),
            category,
            action: t.action,
            description: t.description.clone(),
            schema: t.schema.clone(),
            critical: t.critical,
            retired: t.retired,
            origin: TypeOrigin::Tenant,
        }
    }

    /// A category's pill label as this tenant sees it.
    pub fn category_label(&self, category: &CategoryName) -> String {
        if let CategoryName::Other(slug) = category {
            if crate::packs::category_label(slug).is_none() {
                if let Some(label) = self
                    .types
                    .iter()
                    .filter(|t| &t.category == slug)
                    .find_map(|t| t.category_label.clone())
                {
                    return label;
                }
            }
        }
        category.label()
    }

    /// Every type the tenant can receive or has received: built-in ones, those of
    /// its packs and its own (retired ones included, marked).
    pub fn all(&self) -> Vec<TypeDef> {
        let mut out: Vec<TypeDef> = EventType::ALL
            .iter()
            .map(|t| TypeDef::builtin(*t))
            .collect();
        for pack in crate::packs::PACKS.iter().filter(|p| self.has_pack(p.id)) {
            for t in pack.types {
                if !out.iter().any(|d| d.name.as_str() == t.name) {
                    out.push(t.def(pack));
                }
            }
        }
        out.extend(self.types.iter().map(|t| self.own_def(t)));
        out
    }

    /// The categories of [`TenantCatalog::all`], in order of first appearance:
    /// `(slug, label)`.
    pub fn categories(&self) -> Vec<(CategoryName, String)> {
        let mut out: Vec<(CategoryName, String)> = Category::ALL
            .iter()
            .map(|c| (CategoryName::Builtin(*c), c.label().to_owned()))
            .collect();
        for d in self.all() {
            if !out.iter().any(|(c, _)| *c == d.category) {
                out.push((d.category.clone(), d.category_label.clone()));
            }
        }
        out
    }

    /// Whether entries of this tenant can have this category (a filter on anything
    /// else is a mistake): built-in, any pack's, or one of the tenant's own.
    pub fn knows_category(&self, category: &CategoryName) -> bool {
        match category {
            CategoryName::Builtin(_) => true,
            CategoryName::Other(slug) => {
                crate::packs::category_label(slug).is_some()
                    || self.types.iter().any(|t| &t.category == slug)
            }
        }
    }

    /// Whether entries of this tenant can have this type: built-in, any pack's
    /// (switched on or not: entries written while it was on stay), or its own.
    pub fn knows_type(&self, name: &TypeName) -> bool {
        match name {
            TypeName::Builtin(_) => true,
            TypeName::Other(n) => {
                crate::packs::pack_of(n).is_some() || self.types.iter().any(|t| &t.name == n)
            }
        }
    }

    /// The names whose entries retention keeps: built-in critical types, the
    /// critical types of every pack (switched on or not: what was written as
    /// critical stays so), and the tenant's own types flagged critical.
    pub fn critical_names(&self) -> Vec<String> {
        let mut names: Vec<String> = EventType::critical().map(str::to_owned).collect();
        for pack in crate::packs::PACKS {
            for t in pack.types.iter().filter(|t| t.critical) {
                if !names.iter().any(|n| n == t.name) {
                    names.push(t.name.to_owned());
                }
            }
        }
        names.extend(
            self.types
                .iter()
                .filter(|t| t.critical)
                .map(|t| t.name.clone()),
        );
        names
    }
}

/// Display, `Serialize` and `Deserialize` as the name: `as_str` one way, `FromStr`
/// (with its error as the message) the other.
macro_rules! as_name {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

as_name!(EventType, TypeName, CategoryName);

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
                &[
                    "audit.exported",
                    "audit.purged",
                    "audit.checkpoint_signed",
                    "audit.viewed",
                    // Issue 14: changes to the tenant's catalog.
                    "catalog.type_registered",
                    "catalog.type_changed",
                    "catalog.type_retired",
                    "catalog.pack_enabled",
                    "catalog.pack_disabled",
                ],
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
