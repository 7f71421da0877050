//! The ingestion API's input rules: request limits and the validation of each event,
//! with errors that name the event (by index), the field and the reason.
//!
//! Nothing here touches the store; `rest.rs` authenticates, calls [`parse_request`]
//! and [`validate_event`], and appends the valid events in one transaction.

use app::catalog::{Category, EventType, TenantCatalog, TypeDef};
use app::diff::diff;
use app::entry::{Actor, Change, Context, InstanceRef, NewEntry, Target};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// At most this many bytes per request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// At most this many events per request.
pub const MAX_EVENTS: usize = 1_000;
/// At most this many bytes per event (as compact JSON).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// At most this many nested arrays/objects in a request body.
pub const MAX_DEPTH: usize = 32;
/// Producers may report `occurred_at` at most this far ahead of the server's clock.
pub const MAX_CLOCK_SKEW_MINUTES: i64 = 5;

const MAX_DESCRIPTION: usize = 2_000;
const MAX_SHORT: usize = 200;
const MAX_NAME: usize = 500;
/// At most this many resources per event (`targets`).
pub const MAX_TARGETS: usize = 20;

/// The fields an event may have; anything else is refused (typos are caught).
pub const EVENT_FIELDS: &[&str] = &[
    "event_type",
    "description",
    "actor",
    "instance",
    "target",
    "targets",
    "before",
    "after",
    "changes",
    "metadata",
    "occurred_at",
    "context",
    "idempotency_key",
];

/// A refusal of the whole request (nothing is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl RequestError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        RequestError {
            status,
            code,
            message: message.into(),
        }
    }
}

/// What is wrong with one field of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's path inside the event, e.g. `instance.name`; `(event)` for the whole event.
    pub field: String,
    pub message: String,
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// The deepest nesting of arrays and objects in a JSON text, found without parsing it
/// (so a hostile depth cannot exhaust the parser's stack).
pub fn nesting_depth(body: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Checks the request-level limits and splits the body into its events: one event
/// object, an array of events, or `{"events": [...]}`.
pub fn parse_request(body: &[u8]) -> Result<Vec<Value>, RequestError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(RequestError::new(
            413,
            "body_too_large",
            format!(
                "the request body has {} bytes; the limit is {MAX_BODY_BYTES} bytes (1 MiB)",
                body.len()
            ),
        ));
    }
    let depth = nesting_depth(body);
    if depth > MAX_DEPTH {
        return Err(RequestError::new(
            400,
            "too_deep",
            format!("the JSON nests {depth} levels deep; the limit is {MAX_DEPTH}"),
        ));
    }
    let value: Value = crate::strict_json::from_slice(body).map_err(|e| {
        RequestError::new(
            400,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let events = match value {
        Value::Array(events) => events,
        Value::Object(mut map) if map.contains_key("events") => {
            if let Some(extra) = map.keys().find(|k| *k != "events") {
                return Err(RequestError::new(
                    400,
                    "unknown_field",
                    format!("unknown top-level field `{extra}`: a batch is {{\"events\": [...]}}"),
                ));
            }
            match map.remove("events") {
                Some(Value::Array(events)) => events,
                _ => {
                    return Err(RequestError::new(
                        400,
                        "invalid_batch",
                        "`events` must be an array of events",
                    ))
                }
            }
        }
        Value::Object(map) => vec![Value::Object(map)],
        _ => {
            return Err(RequestError::new(
                400,
                "invalid_batch",
                "the body must be an event object, an array of events, or {\"events\": [...]}",
            ))
        }
    };
    if events.is_empty() {
        return Err(RequestError::new(
            400,
            "empty_batch",
            "the batch holds no events",
        ));
    }
    if events.len() > MAX_EVENTS {
        return Err(RequestError::new(
            413,
            "too_many_events",
            format!(
                "the batch holds {} events; the limit is {MAX_EVENTS}",
                events.len()
            ),
        ));
    }
    Ok(events)
}

/// What the validator needs to know about the tenant: its instance registry.
pub struct Known<'a> {
    /// Instance id → current name.
    pub instances: &'a HashMap<String, String>,
    /// The API key the request came with: the actor when an event names none.
    pub key_actor: &'a Actor,
    /// Where the request came from: the context when an event gives none.
    pub request_context: &'a Context,
    pub now: DateTime<Utc>,
    /// Actor ids in the request that are Stele accounts: a producer may not write
    /// in their name.
    pub stele_users: &'a std::collections::HashSet<String>,
    /// The tenant's packs and own types (read only when an event needs them).
    pub catalog: &'a TenantCatalog,
    /// The compiled metadata schemas of the tenant types the request uses, by name.
    pub schemas: &'a HashMap<String, app::ssr::catalog::Validator>,
}

/// Whether some event's type is not built in (then the tenant's catalog is read).
pub fn needs_catalog(events: &[Value]) -> bool {
    events.iter().any(|e| {
        e.get("event_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.parse::<EventType>().is_err())
    })
}

/// The metadata schemas of the types a request uses, compiled once per request.
/// A schema that no longer compiles (it did when registered) is logged and skipped.
pub fn schemas_for(
    events: &[Value],
    catalog: &TenantCatalog,
) -> HashMap<String, app::ssr::catalog::Validator> {
    let mut out = HashMap::new();
    for name in events
        .iter()
        .filter_map(|e| e.get("event_type").and_then(Value::as_str))
    {
        if out.contains_key(name) {
            continue;
        }
        if let Some(schema) = catalog
            .types
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.schema.as_ref())
        {
            match app::ssr::catalog::compile(schema) {
                Ok(v) => {
                    out.insert(name.to_owned(), v);
                }
                Err(e) => {
                    tracing::error!(event_type = name, error = %e, "a stored schema does not compile")
                }
            }
        }
    }
    out
}

/// Whether some event names an instance without its name (which then comes from
/// the instances Stele knows).
pub fn needs_instance_names(events: &[Value]) -> bool {
    events.iter().any(|e| {
        e.get("instance")
            .and_then(Value::as_object)
            .is_some_and(|i| i.get("name").is_none_or(Value::is_null))
    })
}

/// The actor ids a request names (to look up which are Stele accounts).
pub fn actor_ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .filter_map(|e| e.get("actor")?.get("id")?.as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(field_error(field, message));
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, path: &str, value: Option<&Value>, max: usize) -> Option<String> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.error(path, "must not be empty");
                None
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.error(path, format!("is longer than {max} characters"));
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(other) => {
                self.error(path, format!("expected a string, got {}", kind(other)));
                None
            }
        }
    }

    fn required_string(&mut self, path: &str, value: Option<&Value>, max: usize) -> String {
        if value.is_none_or(Value::is_null) {
            self.error(path, "is required");
            return String::new();
        }
        self.string(path, value, max).unwrap_or_default()
    }

    fn object(&mut self, path: &str, value: Option<&'a Value>) -> Option<&'a Map<String, Value>> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.error(path, format!("expected an object, got {}", kind(other)));
                None
            }
        }
    }

    fn only(&mut self, path: &str, map: &Map<String, Value>, allowed: &[&str]) {
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.error(
                format!("{path}.{key}"),
                format!("unknown field; expected one of: {}", allowed.join(", ")),
            );
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validates one event and turns it into the entry to append, or lists every problem.
pub fn validate_event(value: &Value, known: &Known<'_>) -> Result<NewEntry, Vec<FieldError>> {
    let Value::Object(map) = value else {
        return Err(vec![field_error(
            "(event)",
            format!("expected an event object, got {}", kind(value)),
        )]);
    };
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(0);
    if size > MAX_EVENT_BYTES {
        return Err(vec![field_error(
            "(event)",
            format!("the event has {size} bytes; the limit is {MAX_EVENT_BYTES} bytes (64 KiB)"),
        )]);
    }
    let mut f = Fields {
        map,
        errors: Vec::new(),
    };
    plain_values("", value, &mut f);
    for key in map.keys().filter(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        f.error(
            key.clone(),
            format!(
                "unknown field; expected one of: {}",
                EVENT_FIELDS.join(", ")
            ),
        );
    }

    let event_type = match f.get("event_type") {
        None => {
            f.error("event_type", "is required");
            None
        }
        Some(Value::String(s)) => match known.catalog.resolve(s) {
            Ok(t) if t.category == Category::Audit => {
                f.error(
                    "event_type",
                    format!("`{s}` is written by Stele itself, not through the API"),
                );
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                f.error("event_type", e.to_string());
                None
            }
        },
        Some(other) => {
            f.error(
                "event_type",
                format!("expected a string, got {}", kind(other)),
            );
            None
        }
    };
    let description = f.required_string("description", f.get("description"), MAX_DESCRIPTION);
    let actor = actor(&mut f, event_type.as_ref(), known);
    let instance = instance(&mut f, known);
    let mut targets = targets(&mut f);
    let mut metadata = f.object("metadata", f.get("metadata")).cloned();
    if let Some(t) = &event_type {
        metadata_schema(&mut f, t, metadata.as_ref(), known);
    }
    let changes = changes(&mut f, event_type.as_ref(), metadata.as_mut());
    let occurred_at = occurred_at(&mut f, known.now);
    let context = context(&mut f).unwrap_or_else(|| known.request_context.clone());
    let idempotency_key = f.string("idempotency_key", f.get("idempotency_key"), MAX_SHORT);

    match (f.errors.is_empty(), event_type) {
        (true, Some(event_type)) => {
            let mut entry = NewEntry::of(&event_type, actor, description);
            entry.instance = instance;
            entry.target = (!targets.is_empty()).then(|| targets.remove(0));
            entry.other_targets = targets;
            entry.changes = changes;
            entry.metadata = metadata.unwrap_or_default();
            entry.occurred_at = occurred_at;
            entry.context = context;
            entry.idempotency_key = idempotency_key;
            Ok(entry)
        }
        _ => Err(f.errors),
    }
}

fn actor(f: &mut Fields<'_>, event_type: Option<&TypeDef>, known: &Known<'_>) -> Actor {
    let system_only = event_type.is_some_and(|t| t.name.is_system_only());
    let actor = match f.get("actor") {
        None if system_only => Actor::system(),
        None => known.key_actor.clone(),
        Some(Value::String(s)) if s == "system" => Actor::system(),
        Some(Value::Object(m)) => {
            f.only("actor", m, &["kind", "id", "label", "name", "email"]);
            match m.get("kind").and_then(Value::as_str) {
                Some("system") => Actor::system(),
                Some("user") | None => {
                    let id = f.required_string("actor.id", m.get("id"), MAX_SHORT);
                    if known.stele_users.contains(&id) {
                        f.error(
                            "actor.id",
                            format!("`{id}` is a Stele account: producers report their own users, Stele records its own"),
                        );
                    }
                    let name = f.string("actor.name", m.get("name"), MAX_NAME);
                    let email = f.string("actor.email", m.get("email"), MAX_NAME);
                    let label = f.string("actor.label", m.get("label"), MAX_NAME);
                    let mut actor = Actor::user(id, name.as_deref(), email.as_deref());
                    if let Some(label) = label {
                        actor.label = label;
                    }
                    actor
                }
                Some(other) => {
                    f.error(
                        "actor.kind",
                        format!("`{other}` is not an actor kind: expected user or system"),
                    );
                    Actor::system()
                }
            }
        }
        Some(other) => {
            f.error(
                "actor",
                format!(
                    "expected {{\"kind\": \"user\", \"id\": …}} or \"system\", got {}",
                    kind(other)
                ),
            );
            Actor::system()
        }
    };
    if system_only && actor != Actor::system() {
        if let Some(t) = event_type {
            f.error(
                "actor",
                format!("`{}` is caused by no person: its actor is system", t.name),
            );
        }
    }
    actor
}

fn instance(f: &mut Fields<'_>, known: &Known<'_>) -> Option<InstanceRef> {
    let m = f.object("instance", f.get("instance"))?;
    f.only("instance", m, &["id", "name"]);
    let id = f.required_string("instance.id", m.get("id"), MAX_SHORT);
    let name = match f.string("instance.name", m.get("name"), MAX_NAME) {
        Some(name) => name,
        None if id.is_empty() => return None,
        None => match known.instances.get(&id) {
            Some(name) => name.clone(),
            None => {
                f.error(
                    "instance.name",
                    format!("is required: Stele does not know instance `{id}` yet"),
                );
                return None;
            }
        },
    };
    Some(InstanceRef { id, name })
}

/// `target` (one resource) or `targets` (several; the first is the main one).
fn targets(f: &mut Fields<'_>) -> Vec<Target> {
    match (f.get("target"), f.get("targets")) {
        (Some(_), Some(_)) => {
            f.error("targets", "give either target or targets, not both");
            Vec::new()
        }
        (Some(one), None) => target(f, "target", one).into_iter().collect(),
        (None, Some(Value::Array(items))) => {
            if items.len() > MAX_TARGETS {
                f.error(
                    "targets",
                    format!(
                        "names {} resources; the limit is {MAX_TARGETS}",
                        items.len()
                    ),
                );
                return Vec::new();
            }
            items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| target(f, &format!("targets[{i}]"), item))
                .collect()
        }
        (None, Some(other)) => {
            f.error(
                "targets",
                format!(
                    "expected an array of {{kind, id, name}}, got {}",
                    kind(other)
                ),
            );
            Vec::new()
        }
        (None, None) => Vec::new(),
    }
}

fn target<'a>(f: &mut Fields<'a>, path: &str, value: &'a Value) -> Option<Target> {
    let m = f.object(path, Some(value))?;
    f.only(path, m, &["kind", "id", "name"]);
    let kind = f.required_string(&format!("{path}.kind"), m.get("kind"), MAX_SHORT);
    let id = match m.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        other => f.required_string(&format!("{path}.id"), other, MAX_SHORT),
    };
    let name = f.string(&format!("{path}.name"), m.get("name"), MAX_NAME);
    Some(Target { kind, id, name })
}

/// A tenant type's metadata schema, checked with every error named by its path
/// (`metadata.retries`, `metadata.hosts[2]`).
fn metadata_schema(
    f: &mut Fields<'_>,
    t: &TypeDef,
    metadata: Option<&Map<String, Value>>,
    known: &Known<'_>,
) {
    if t.schema.is_none() {
        return;
    }
    let Some(validator) = known.schemas.get(t.name.as_str()) else {
        return;
    };
    let value = Value::Object(metadata.cloned().unwrap_or_default());
    for (path, message) in app::ssr::catalog::schema_errors(validator, &value) {
        f.error(format!("metadata{path}"), message);
    }
}

fn changes<'a>(
    f: &mut Fields<'a>,
    event_type: Option<&TypeDef>,
    metadata: Option<&mut Map<String, Value>>,
) -> Vec<Change> {
    let before = f.get("before");
    let after = f.get("after");
    let explicit = f.get("changes");
    if explicit.is_some() && (before.is_some() || after.is_some()) {
        f.error("changes", "give either before/after or changes, not both");
        return Vec::new();
    }
    let mut changes = match explicit {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| explicit_change(f, i, item))
            .collect(),
        Some(other) => {
            f.error(
                "changes",
                format!(
                    "expected an array of {{path, old, new}}, got {}",
                    kind(other)
                ),
            );
            Vec::new()
        }
        None => {
            for (name, side) in [("before", before), ("after", after)] {
                if let Some(v) = side.filter(|v| !v.is_object()) {
                    f.error(name, format!("expected an object, got {}", kind(v)));
                }
            }
            let empty = Value::Object(Map::new());
            diff(before.unwrap_or(&empty), after.unwrap_or(&empty))
        }
    };
    if event_type.is_some_and(|t| t.name == EventType::ConfigParameterPushed) {
        parameter_push(f, metadata, &mut changes);
    }
    changes
}

fn explicit_change<'a>(f: &mut Fields<'a>, i: usize, item: &'a Value) -> Option<Change> {
    let path = format!("changes[{i}]");
    let m = f.object(&path, Some(item))?;
    f.only(&path, m, &["path", "old", "new"]);
    let field = f.required_string(&format!("{path}.path"), m.get("path"), MAX_NAME);
    let old = m.get("old").filter(|v| !v.is_null()).cloned();
    let new = m.get("new").filter(|v| !v.is_null()).cloned();
    if old.is_none() && new.is_none() {
        f.error(path, "a change needs an old or a new value");
        return None;
    }
    Some(Change {
        path: field,
        old,
        new,
    })
}

/// A fleet parameter push records the parameter, the value set, the previous value,
/// and whether it was newly created or changed (seed 000).
fn parameter_push(
    f: &mut Fields<'_>,
    metadata: Option<&mut Map<String, Value>>,
    changes: &mut Vec<Change>,
) {
    let Some(meta) = metadata else {
        f.error(
            "metadata",
            "a parameter push needs metadata.parameter and metadata.value",
        );
        return;
    };
    let parameter = f.required_string("metadata.parameter", meta.get("parameter"), MAX_NAME);
    let Some(value) = meta.get("value").filter(|v| !v.is_null()).cloned() else {
        f.error("metadata.value", "is required");
        return;
    };
    let previous = meta.get("previous_value").filter(|v| !v.is_null()).cloned();
    let outcome = if previous.is_some() {
        "changed"
    } else {
        "created"
    };
    let claimed = meta.get("outcome").cloned();
    match claimed {
        None => {
            meta.insert("outcome".to_owned(), Value::String(outcome.to_owned()));
        }
        Some(Value::String(s)) if s == outcome => {}
        Some(other) => f.error(
            "metadata.outcome",
            format!("is {other} but the previous value says `{outcome}` (or leave it out)"),
        ),
    }
    meta.entry("previous_value").or_insert(Value::Null);
    if changes.is_empty() && !parameter.is_empty() {
        changes.push(Change {
            path: parameter,
            old: previous,
            new: Some(value),
        });
    }
}

/// The largest integer every JSON reader holds exactly (RFC 7493, I-JSON): beyond
/// it two different numbers can read, and hash, as one.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Refuses what would not survive storing and hashing unchanged: NUL characters in
/// any string or member name, and integers beyond ±2^53. Each is named by its path.
fn plain_values(path: &str, value: &Value, f: &mut Fields<'_>) {
    let here = |p: &str| {
        if p.is_empty() {
            "(event)".to_owned()
        } else {
            p.to_owned()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => {
            f.error(
                here(path),
                "contains a NUL character (U+0000), which is not accepted",
            );
        }
        Value::Number(n) => {
            // An integer too long for i64/u64 arrives as a double: whole doubles past
            // 2^53 are refused too, since several integers read as each of them.
            #[allow(clippy::cast_precision_loss)]
            let limit = MAX_EXACT_INTEGER as f64;
            let too_big = n.as_u64().is_some_and(|u| u > MAX_EXACT_INTEGER)
                || n.as_i64()
                    .is_some_and(|i| i.unsigned_abs() > MAX_EXACT_INTEGER)
                || n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() > limit);
            if too_big {
                f.error(
                    here(path),
                    format!("the number {n} is a whole number beyond ±2^53 (I-JSON): send it as a string"),
                );
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                plain_values(&format!("{path}[{i}]"), item, f);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.contains('\0') {
                    f.error(
                        here(path),
                        "a member name contains a NUL character (U+0000)",
                    );
                }
                plain_values(&p, v, f);
            }
        }
        _ => {}
    }
}

fn occurred_at(f: &mut Fields<'_>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = f.get("occurred_at")?;
    let Some(text) = value.as_str() else {
        f.error(
            "occurred_at",
            format!("expected an RFC 3339 timestamp string, got {}", kind(value)),
        );
        return None;
    };
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => {
            // Offsets become UTC, sub-milliseconds go, a leap second becomes the next
            // second's start: the stored time is the hashed one.
            let t = app::canonical::truncate_to_millis(t.with_timezone(&Utc));
            if t.timestamp() < 0 {
                f.error("occurred_at", format!("`{text}` is before 1970"));
                None
            } else if t > now + Duration::minutes(MAX_CLOCK_SKEW_MINUTES) {
                f.error("occurred_at", format!("`{text}` is in the future"));
                None
            } else {
                Some(t)
            }
        }
        Err(e) => {
            f.error(
                "occurred_at",
                format!("`{text}` is not an RFC 3339 timestamp ({e}); e.g. 2026-11-23T09:30:00Z"),
            );
            None
        }
    }
}

fn context(f: &mut Fields<'_>) -> Option<Context> {
    let m = f.object("context", f.get("context"))?;
    f.only(
        "context",
        m,
        &["ip", "user_agent", "session_id", "request_id"],
    );
    Some(Context {
        ip: f.string("context.ip", m.get("ip"), MAX_SHORT),
        user_agent: f.string("context.user_agent", m.get("user_agent"), MAX_NAME),
        // A producer's session id is a secret of its own: only a derived reference
        // is kept, like Stele's own sessions.
        session_id: f
            .string("context.session_id", m.get("session_id"), MAX_SHORT)
            .map(|s| app::ssr::secrets::session_ref(&app::ssr::secrets::token_hash(&s))),
        request_id: f.string("context.request_id", m.get("request_id"), MAX_SHORT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known_with<'a>(
        instances: &'a HashMap<String, String>,
        actor: &'a Actor,
        ctx: &'a Context,
    ) -> Known<'a> {
        Known {
            instances,
            key_actor: actor,
            request_context: ctx,
            now: Utc::now(),
            stele_users: &NO_USERS,
            catalog: &CATALOG,
            schemas: &SCHEMAS,
        }
    }

    static NO_USERS: std::sync::LazyLock<std::collections::HashSet<String>> =
        std::sync::LazyLock::new(Default::default);

    /// The gateway pack on, and one own type with a metadata schema.
    static CATALOG: std::sync::LazyLock<TenantCatalog> =
        std::sync::LazyLock::new(|| TenantCatalog {
            packs: vec!["api_gateway".into()],
            types: vec![
                app::catalog::TenantType {
                    name: "custom.backup.completed".into(),
                    category: "backups".into(),
                    category_label: Some("Backups".into()),
                    action: app::catalog::Action::Complete,
                    description: "Backup completed".into(),
                    schema: Some(json!({
                        "type": "object",
                        "required": ["job"],
                        "properties": {
                            "job": {"type": "string"},
                            "bytes": {"type": "integer", "minimum": 0},
                            "pin": {"type": "integer"},
                            "hosts": {"type": "array", "items": {"type": "string"}}
                        }
                    })),
                    critical: false,
                    retired: false,
                },
                app::catalog::TenantType {
                    name: "custom.old.thing".into(),
                    category: "config".into(),
                    category_label: None,
                    action: app::catalog::Action::Update,
                    description: "Retired".into(),
                    schema: None,
                    critical: false,
                    retired: true,
                },
            ],
        });

    static SCHEMAS: std::sync::LazyLock<HashMap<String, app::ssr::catalog::Validator>> =
        std::sync::LazyLock::new(|| {
            schemas_for(
                &[json!({"event_type": "custom.backup.completed"})],
                &CATALOG,
            )
        });

    #[test]
    fn pack_and_own_types_resolve_and_others_say_how_to_register() {
        let ok = check(json!({"event_type": "route.update", "description": "x"})).unwrap();
        assert_eq!(ok.category.as_str(), "routes");
        assert_eq!(ok.action, app::catalog::Action::Update);
        let own = check(json!({
            "event_type": "custom.backup.completed", "description": "x", "metadata": {"job": "nightly"}
        }))
        .unwrap();
        assert_eq!(own.category.as_str(), "backups");
        for (event_type, says) in [
            ("host.create", "\"Monitoring\" pack"),
            ("custom.never.registered", "POST /api/v1/catalog/types"),
            ("custom.old.thing", "retired"),
            ("catalog.type_registered", "written by Stele itself"),
            ("Route.Update", "unknown event type"),
        ] {
            let errors = check(json!({"event_type": event_type, "description": "x"})).unwrap_err();
            assert_eq!(errors.len(), 1, "{event_type}: {errors:?}");
            assert_eq!(errors[0].field, "event_type");
            assert!(
                errors[0].message.contains(says),
                "{event_type}: {}",
                errors[0].message
            );
        }
    }

    #[test]
    fn metadata_schema_errors_name_the_path() {
        let errors = check(json!({
            "event_type": "custom.backup.completed",
            "description": "x",
            "metadata": {"bytes": -1, "hosts": ["a", 7], "pin": "s3cr3t-4411"}
        }))
        .unwrap_err();
        let mut paths: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "metadata",
                "metadata.bytes",
                "metadata.hosts[1]",
                "metadata.pin"
            ],
            "{errors:?}"
        );
        // The answer never repeats a value (it may be a secret).
        assert!(
            errors.iter().all(|e| !e.message.contains("s3cr3t")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.message.contains("job")),
            "{errors:?}"
        );
        // No metadata at all is checked as `{}`.
        let errors = check(json!({"event_type": "custom.backup.completed", "description": "x"}))
            .unwrap_err();
        assert_eq!(errors[0].field, "metadata");
    }

    #[test]
    fn several_targets_are_read_in_order_and_checked_each() {
        let e = check(json!({
            "event_type": "client.assign",
            "description": "Assigned client office-ip to route stripe-payments",
            "targets": [
                {"kind": "client", "id": "cl_1", "name": "office-ip"},
                {"kind": "route", "id": "route_abc123", "name": "stripe-payments"}
            ]
        }))
        .unwrap();
        assert_eq!(e.target.as_ref().unwrap().kind, "client");
        assert_eq!(e.other_targets.len(), 1);
        assert_eq!(e.other_targets[0].id, "route_abc123");
        let both = check(json!({
            "event_type": "client.assign", "description": "x",
            "target": {"kind": "client", "id": "1"}, "targets": []
        }));
        assert_eq!(fields(both), ["targets"]);
        let bad = check(json!({
            "event_type": "client.assign", "description": "x",
            "targets": [{"kind": "client", "id": "1"}, {"kind": "route"}, 5]
        }));
        assert_eq!(fields(bad), ["targets[1].id", "targets[2]"]);
        let many: Vec<Value> = (0..=MAX_TARGETS)
            .map(|i| json!({"kind": "k", "id": i}))
            .collect();
        let too_many =
            check(json!({"event_type": "client.assign", "description": "x", "targets": many}));
        assert_eq!(fields(too_many), ["targets"]);
    }

    fn check(event: Value) -> Result<NewEntry, Vec<FieldError>> {
        let instances = HashMap::from([("pbx-1".to_owned(), "Acme HQ".to_owned())]);
        let actor = Actor::api_key("k1", "CI");
        let ctx = Context::default();
        validate_event(&event, &known_with(&instances, &actor, &ctx))
    }

    fn fields(r: Result<NewEntry, Vec<FieldError>>) -> Vec<String> {
        r.expect_err("should be refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(nesting_depth(br#"{"a": [1, {"b": "[[[{{"}]}"#), 3);
        assert_eq!(nesting_depth(br#""\"[""#), 0);
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(parse_request(deep.as_bytes()).unwrap_err().code, "too_deep");
    }

    #[test]
    fn request_shapes_and_limits() {
        assert_eq!(parse_request(br#"{"event_type": "x"}"#).unwrap().len(), 1);
        assert_eq!(parse_request(br#"[{}, {}]"#).unwrap().len(), 2);
        assert_eq!(parse_request(br#"{"events": [{}]}"#).unwrap().len(), 1);
        assert_eq!(
            parse_request(br#"{"events": []}"#).unwrap_err().code,
            "empty_batch"
        );
        assert_eq!(parse_request(b"{nope").unwrap_err().code, "malformed_json");
        assert_eq!(parse_request(b"42").unwrap_err().code, "invalid_batch");
        let many = format!("[{}]", vec!["{}"; MAX_EVENTS + 1].join(","));
        let err = parse_request(many.as_bytes()).unwrap_err();
        assert_eq!((err.status, err.code), (413, "too_many_events"));
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_request(&big).unwrap_err().status, 413);
    }

    #[test]
    fn a_valid_event_becomes_an_entry_with_a_diff() {
        let entry = check(json!({
            "event_type": "extension.updated",
            "description": "Renamed extension 101",
            "actor": {"kind": "user", "id": "u-7", "name": "Jane Doe", "email": "jane@msp.com"},
            "instance": {"id": "pbx-1"},
            "target": {"kind": "extension", "id": 101, "name": "Reception"},
            "before": {"name": "Reception", "voicemail": {"pin": "1"}},
            "after": {"name": "Front Desk", "voicemail": {"pin": "1"}},
            "occurred_at": "2026-11-20T10:00:00+01:00",
            "idempotency_key": "evt-1"
        }))
        .unwrap();
        assert_eq!(entry.actor.label, "Jane Doe <jane@msp.com>");
        assert_eq!(entry.instance.unwrap().name, "Acme HQ");
        assert_eq!(entry.target.unwrap().id, "101");
        assert_eq!(entry.changes.len(), 1);
        assert_eq!(entry.changes[0].path, "name");
        assert_eq!(
            entry.occurred_at.unwrap().to_rfc3339(),
            "2026-11-20T09:00:00+00:00"
        );
        assert_eq!(entry.idempotency_key.as_deref(), Some("evt-1"));
    }

    #[test]
    fn errors_name_each_field_and_why() {
        let got = fields(check(json!({
            "event_type": "extension.exploded",
            "description": 7,
            "occurred_at": "yesterday",
            "instance": {"id": "pbx-unknown"},
            "colour": "red"
        })));
        for field in [
            "event_type",
            "description",
            "occurred_at",
            "instance.name",
            "colour",
        ] {
            assert!(
                got.contains(&field.to_owned()),
                "{field} missing from {got:?}"
            );
        }
        assert_eq!(
            fields(check(json!({"description": "x"}))),
            vec!["event_type"]
        );
        let future = (Utc::now() + Duration::days(2)).to_rfc3339();
        assert_eq!(
            fields(check(
                json!({"event_type": "alert.muted", "description": "x", "occurred_at": future})
            )),
            vec!["occurred_at"]
        );
        assert_eq!(
            fields(check(
                json!({"event_type": "audit.purged", "description": "x"})
            )),
            vec!["event_type"]
        );
        assert_eq!(
            fields(check(
                json!({"event_type": "alert.muted", "description": "x", "before": {}, "changes": []})
            )),
            vec!["changes"]
        );
        let huge = "x".repeat(MAX_EVENT_BYTES);
        assert_eq!(
            fields(check(
                json!({"event_type": "alert.muted", "description": "x", "metadata": {"blob": huge}})
            )),
            vec!["(event)"]
        );
    }

    #[test]
    fn system_events_and_the_default_actor() {
        let auto =
            check(json!({"event_type": "alert.auto_resolved", "description": "Trunk back up"}))
                .unwrap();
        assert_eq!(auto.actor, Actor::system());
        let by_key = check(json!({"event_type": "alert.muted", "description": "Muted"})).unwrap();
        assert_eq!(by_key.actor.label, "CI");
        assert_eq!(
            fields(check(
                json!({"event_type": "service.auto_restarted", "description": "x", "actor": {"id": "u1"}})
            )),
            vec!["actor"]
        );
    }

    #[test]
    fn a_parameter_push_records_parameter_value_previous_and_outcome() {
        let changed = check(json!({
            "event_type": "config.parameter_pushed", "description": "Pushed after_hours_start",
            "metadata": {"parameter": "after_hours_start", "value": "18:00", "previous_value": "17:00"}
        }))
        .unwrap();
        assert_eq!(changed.metadata["outcome"], json!("changed"));
        assert_eq!(changed.changes[0].path, "after_hours_start");
        assert_eq!(changed.changes[0].old, Some(json!("17:00")));
        let created = check(json!({
            "event_type": "config.parameter_pushed", "description": "Pushed x",
            "metadata": {"parameter": "x", "value": 1}
        }))
        .unwrap();
        assert_eq!(created.metadata["outcome"], json!("created"));
        assert_eq!(created.metadata["previous_value"], Value::Null);
        assert_eq!(
            fields(check(
                json!({"event_type": "config.parameter_pushed", "description": "x"})
            )),
            vec!["metadata"]
        );
    }
}
