//! The record (SPEC "The record"): the insert-only [`NewEntry`] a writer builds and the
//! [`Entry`] a reader gets back. There is no type or function that changes an entry
//! after it was appended.

use crate::catalog::{Action, CategoryName, EventType, TypeDef, TypeName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Who caused an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    System,
    ApiKey,
}

impl ActorKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::System => "system",
            ActorKind::ApiKey => "api_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [ActorKind::User, ActorKind::System, ActorKind::ApiKey]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The actor of an entry, with its label snapshotted at write time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub label: String,
}

/// The label every System entry carries.
pub const SYSTEM_LABEL: &str = "System";

impl Actor {
    /// The System actor: for changes no person made (auto-resolve, self-healing, purges).
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
            label: SYSTEM_LABEL.to_owned(),
        }
    }

    /// A user, labelled by the SPEC's resolution rule:
    /// `Name <email>`, else email, else name, else the raw id.
    pub fn user(id: impl Into<String>, name: Option<&str>, email: Option<&str>) -> Self {
        let id = id.into();
        let name = name.map(str::trim).filter(|s| !s.is_empty());
        let email = email.map(str::trim).filter(|s| !s.is_empty());
        let label = match (name, email) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (None, Some(e)) => e.to_owned(),
            (Some(n), None) => n.to_owned(),
            (None, None) => id.clone(),
        };
        Actor {
            kind: ActorKind::User,
            id: Some(id),
            label,
        }
    }

    /// An API key acting for a producer system.
    pub fn api_key(id: impl Into<String>, name: &str) -> Self {
        let id = id.into();
        let label = if name.trim().is_empty() {
            id.clone()
        } else {
            name.trim().to_owned()
        };
        Actor {
            kind: ActorKind::ApiKey,
            id: Some(id),
            label,
        }
    }
}

/// The PBX instance an entry concerns, its name snapshotted at write time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub id: String,
    pub name: String,
}

/// The thing changed (an extension, a trunk, a user …), its name snapshotted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
}

/// One changed field. `old` is `None` for a field that did not exist before,
/// `new` is `None` for one that was removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Where a request came from. The session id here is a reference, never the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
}

/// What wrote an entry: Stele itself (its own pages, jobs and commands) or a
/// producer's API key. Hashed with the entry from canonical version 2 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Stele,
    ApiKey,
}

impl SourceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceKind::Stele => "stele",
            SourceKind::ApiKey => "api_key",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SourceKind::Stele, SourceKind::ApiKey]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The API key's id (none for Stele).
    pub id: Option<String>,
    /// The key's name when the entry was written (`Stele` for Stele).
    pub name: String,
}

impl Source {
    pub fn stele() -> Self {
        Source {
            kind: SourceKind::Stele,
            id: None,
            name: "Stele".to_owned(),
        }
    }

    pub fn api_key(id: impl Into<String>, name: &str) -> Self {
        Source {
            kind: SourceKind::ApiKey,
            id: Some(id.into()),
            name: name.to_owned(),
        }
    }
}

fn version_one() -> u64 {
    1
}

/// An entry about to be appended. The store assigns id, seq, recorded_at and the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub event_type: TypeName,
    /// The type's category and action when it was written (stored, not hashed).
    pub category: CategoryName,
    pub action: Action,
    pub description: String,
    pub actor: Actor,
    pub occurred_at: Option<DateTime<Utc>>,
    pub instance: Option<InstanceRef>,
    pub target: Option<Target>,
    /// More resources the entry touches, beside `target` (a client and the route it
    /// was assigned to).
    pub other_targets: Vec<Target>,
    pub changes: Vec<Change>,
    pub metadata: Map<String, Value>,
    pub context: Context,
    pub idempotency_key: Option<String>,
    /// Whose idempotency keys these are (the API key's id): keys of different
    /// producers never collide. Not part of the entry.
    pub idempotency_scope: Option<String>,
    /// SHA-256 of the request's event as canonical JSON: a retry must send the same.
    pub request_hash: Option<String>,
    /// Who is writing it (Stele unless the API sets its key).
    pub source: Source,
}

impl NewEntry {
    pub fn new(event_type: EventType, actor: Actor, description: impl Into<String>) -> Self {
        Self::of(&TypeDef::builtin(event_type), actor, description)
    }

    /// An entry of any type the tenant may write (built in, a pack's, its own).
    pub fn of(def: &TypeDef, actor: Actor, description: impl Into<String>) -> Self {
        NewEntry {
            event_type: def.name.clone(),
            category: def.category.clone(),
            action: def.action,
            description: description.into(),
            actor,
            occurred_at: None,
            instance: None,
            target: None,
            other_targets: Vec::new(),
            changes: Vec::new(),
            metadata: Map::new(),
            context: Context::default(),
            idempotency_key: None,
            idempotency_scope: None,
            request_hash: None,
            source: Source::stele(),
        }
    }

    pub fn instance(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.instance = Some(InstanceRef {
            id: id.into(),
            name: name.into(),
        });
        self
    }

    pub fn target(mut self, kind: &str, id: impl Into<String>, name: Option<&str>) -> Self {
        self.target = Some(Target {
            kind: kind.to_owned(),
            id: id.into(),
            name: name.map(str::to_owned),
        });
        self
    }

    pub fn change(mut self, path: &str, old: Option<Value>, new: Option<Value>) -> Self {
        self.changes.push(Change {
            path: path.to_owned(),
            old,
            new,
        });
        self
    }

    pub fn meta(mut self, key: &str, value: Value) -> Self {
        self.metadata.insert(key.to_owned(), value);
        self
    }

    pub fn occurred_at(mut self, at: DateTime<Utc>) -> Self {
        self.occurred_at = Some(at);
        self
    }

    pub fn context(mut self, context: Context) -> Self {
        self.context = context;
        self
    }

    /// Seals the entry at its place in the chain: the store calls this inside the
    /// append transaction, with the id, seq and time it assigned.
    pub fn seal(
        self,
        id: Uuid,
        tenant_id: Uuid,
        seq: i64,
        recorded_at: DateTime<Utc>,
        prev_hash: &[u8; 32],
    ) -> Entry {
        self.seal_as(
            crate::canonical::CANONICAL_VERSION,
            id,
            tenant_id,
            seq,
            recorded_at,
            prev_hash,
        )
    }

    /// Seals with a given canonical version (1 has no source; tests and vectors).
    pub fn seal_as(
        self,
        version: u64,
        id: Uuid,
        tenant_id: Uuid,
        seq: i64,
        recorded_at: DateTime<Utc>,
        prev_hash: &[u8; 32],
    ) -> Entry {
        let recorded_at = crate::canonical::truncate_to_millis(recorded_at);
        let occurred_at =
            crate::canonical::truncate_to_millis(self.occurred_at.unwrap_or(recorded_at));
        let mut entry = Entry {
            id,
            tenant_id,
            seq,
            recorded_at,
            occurred_at,
            event_type: self.event_type,
            category: self.category,
            action: self.action,
            description: self.description,
            actor: self.actor,
            instance: self.instance,
            target: self.target,
            other_targets: self.other_targets,
            changes: self.changes,
            metadata: self.metadata,
            context: self.context,
            v: version,
            source: (version >= 2).then_some(self.source),
            idempotency_key: self.idempotency_key,
            entry_digest: String::new(),
            prev_hash: hex::encode(prev_hash),
            hash: String::new(),
        };
        let digest = crate::canonical::entry_digest(&entry);
        entry.entry_digest = hex::encode(digest);
        entry.hash = hex::encode(crate::canonical::chain_hash(prev_hash, &digest));
        entry
    }
}

/// An appended entry as read back from the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub seq: i64,
    pub recorded_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    pub event_type: TypeName,
    /// The type's category and action when the entry was written (not hashed).
    #[serde(default)]
    pub category: CategoryName,
    #[serde(default = "default_action")]
    pub action: Action,
    pub description: String,
    pub actor: Actor,
    pub instance: Option<InstanceRef>,
    pub target: Option<Target>,
    /// More resources the entry touches, beside `target`; hashed when present.
    #[serde(default)]
    pub other_targets: Vec<Target>,
    pub changes: Vec<Change>,
    pub metadata: Map<String, Value>,
    pub context: Context,
    /// The canonical form's version the entry was sealed with (docs/INTEGRITY.md).
    #[serde(default = "version_one")]
    pub v: u64,
    /// Who wrote it; hashed from version 2 on, absent in version 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the canonical form (docs/INTEGRITY.md).
    pub entry_digest: String,
    /// Hex chain hash of the previous entry; 64 zeros for seq 1.
    pub prev_hash: String,
    /// Hex `SHA-256(prev_hash || entry_digest)`.
    pub hash: String,
}

fn default_action() -> Action {
    Action::Update
}

impl Entry {
    pub fn category(&self) -> &CategoryName {
        &self.category
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// Every resource the entry names: `target`, then the others.
    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.target.iter().chain(&self.other_targets)
    }
}

/// What `append` reports for each entry it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub id: Uuid,
    pub seq: i64,
    pub hash: String,
    /// True when an entry with the same idempotency key existed already: this is
    /// that entry, and nothing was written.
    #[serde(default)]
    pub replayed: bool,
}

impl From<&Entry> for Appended {
    fn from(e: &Entry) -> Self {
        Appended {
            id: e.id,
            seq: e.seq,
            hash: e.hash.clone(),
            replayed: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_labels_follow_the_resolution_rule() {
        assert_eq!(
            Actor::user("u1", Some("Jane Doe"), Some("jane@msp.com")).label,
            "Jane Doe <jane@msp.com>"
        );
        assert_eq!(
            Actor::user("u1", None, Some("jane@msp.com")).label,
            "jane@msp.com"
        );
        assert_eq!(
            Actor::user("u1", Some("Jane Doe"), Some(" ")).label,
            "Jane Doe"
        );
        assert_eq!(Actor::user("u1", None, None).label, "u1");
        let system = Actor::system();
        assert_eq!(
            (system.kind, system.label.as_str()),
            (ActorKind::System, "System")
        );
    }
}

/// A tenant: one MSP account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}
