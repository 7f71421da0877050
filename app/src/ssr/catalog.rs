//! A tenant's catalog beyond the built-in types: switching packs on and off, and
//! registering, changing and retiring its own event types. Each change commits with
//! the entry that audits it (before and after), and only if the catalog is still the
//! one it was computed from (two owners at once: one wins, the other is told).
//! Shared by the server functions (owners) and the REST API (`catalog:write` keys).

use super::AppState;
use crate::api::{AppError, CatalogView, PackView};
use crate::catalog::{
    is_dotted_name, CategoryName, EventType, TenantCatalog, TenantType, TypeDef, TypeInput,
    TENANT_NAMESPACE,
};
use crate::entry::{Actor, Context, NewEntry};
use crate::store::Mutation;
use serde_json::{json, Value};
use uuid::Uuid;

/// A compiled JSON Schema.
pub type Validator = jsonschema::Validator;

/// At most this many own types per tenant.
pub const MAX_TENANT_TYPES: usize = 500;
/// The largest metadata schema, as compact JSON.
pub const MAX_SCHEMA_BYTES: usize = 16 * 1024;

/// Compiles a metadata schema (JSON Schema, draft detected from `$schema`, 2020-12
/// by default). References outside the schema are refused: nothing is fetched.
pub fn compile(schema: &Value) -> Result<Validator, String> {
    if !schema.is_object() {
        return Err("a schema is a JSON object".to_owned());
    }
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

/// Every way `instance` fails the schema: `(path, message)`, the path in the
/// ingestion API's spelling (`.retries`, `.hosts[2].name`; empty for the whole).
/// Messages never repeat the value (it may be a secret the masking has not yet
/// replaced): the path says where.
pub fn schema_errors(validator: &Validator, instance: &Value) -> Vec<(String, String)> {
    validator
        .iter_errors(instance)
        .map(|e| {
            (
                pointer_path(&e.instance_path().to_string()),
                e.masked_with("the value").to_string(),
            )
        })
        .collect()
}

/// `/hosts/2/name` as `.hosts[2].name`.
fn pointer_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            out.push('.');
            out.push_str(&seg);
        }
    }
    out
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::BadRequest(message.into())
}

/// Checks a registration against the catalog it would join.
fn checked(input: TypeInput, catalog: &TenantCatalog) -> Result<TenantType, AppError> {
    let name = input.name.trim().to_owned();
    if !name.starts_with(TENANT_NAMESPACE) || !is_dotted_name(&name) {
        return Err(bad(format!(
            "`{name}` is not a tenant event type name: use `{TENANT_NAMESPACE}` followed by \
             dotted lowercase words (a–z, 0–9, _), e.g. `custom.backup.completed`, at most 100 characters"
        )));
    }
    let slug = input.category.trim().to_owned();
    let category = CategoryName::parse(&slug).ok_or_else(|| {
        bad(format!(
            "`{slug}` is not a category: use a built-in or pack category, or one lowercase word (a–z, 0–9, _) of your own"
        ))
    })?;
    if category == crate::catalog::Category::Audit {
        return Err(bad("the audit category is Stele's own: choose another"));
    }
    let label = input
        .category_label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    let known = matches!(category, CategoryName::Builtin(_))
        || crate::packs::category_label(&slug).is_some();
    let category_label = if known {
        None
    } else {
        let existing = catalog
            .types
            .iter()
            .filter(|t| t.category == slug && t.name != name)
            .find_map(|t| t.category_label.clone());
        match (label, existing) {
            (Some(l), _) if l.chars().count() > 40 => {
                return Err(bad("category_label: at most 40 characters"))
            }
            (Some(l), Some(e)) if l != e => {
                return Err(bad(format!(
                "category `{slug}` is labelled \"{e}\" already: use that label or another category"
            )))
            }
            (Some(l), _) => Some(l),
            (None, Some(e)) => Some(e),
            (None, None) => {
                return Err(bad(format!(
                    "category `{slug}` is new: give its pill label in `category_label`"
                )))
            }
        }
    };
    let description = input.description.trim().to_owned();
    if description.is_empty() || description.chars().count() > 200 {
        return Err(bad("description: one line of 1 to 200 characters"));
    }
    if let Some(schema) = &input.schema {
        let size = serde_json::to_vec(schema).map(|v| v.len()).unwrap_or(0);
        if size > MAX_SCHEMA_BYTES {
            return Err(bad(format!(
                "schema: {size} bytes; the limit is {MAX_SCHEMA_BYTES}"
            )));
        }
        compile(schema).map_err(|e| bad(format!("schema is not a valid JSON Schema: {e}")))?;
    }
    Ok(TenantType {
        name,
        category: slug,
        category_label,
        action: input.action,
        description,
        schema: input.schema,
        critical: input.critical,
        retired: false,
    })
}

/// Who changes the catalog, and from where.
pub struct Editor {
    pub actor: Actor,
    pub context: Context,
}

impl Editor {
    /// The entry that audits a change, by this editor, about one resource.
    fn entry(&self, event: EventType, description: String, target: (&str, &str)) -> NewEntry {
        NewEntry::new(event, self.actor.clone(), description)
            .target(target.0, target.1, Some(target.1))
            .context(self.context.clone())
    }
}

/// How often a change computed from a catalog that changed meanwhile is computed
/// again from the new one before the caller is told.
const ATTEMPTS: usize = 8;

/// Applies `change` to the tenant's catalog and commits it with the entry that
/// audits it. `change` answers the new catalog and its entry, or `None` when there
/// is nothing to do. When another change committed in between (another owner,
/// producer or server), it is computed again from the catalog as it is now, so each
/// audit entry's before is the after of the change before it.
async fn update<F>(state: &AppState, tenant: Uuid, change: F) -> Result<TenantCatalog, AppError>
where
    F: Fn(&TenantCatalog) -> Result<Option<(TenantCatalog, NewEntry)>, AppError>,
{
    for _ in 0..ATTEMPTS {
        let before = state.store.catalog(tenant).await?;
        let Some((after, entry)) = change(&before)? else {
            return Ok(before);
        };
        let done = state
            .store
            .commit(
                tenant,
                Mutation::SetCatalog {
                    tenant_id: tenant,
                    before,
                    after: after.clone(),
                },
                vec![entry],
            )
            .await;
        match done {
            Ok(_) => return Ok(after),
            Err(crate::store::StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::Conflict(
        "the tenant's catalog kept changing: try again".to_owned(),
    ))
}

fn type_json(t: &TenantType) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Registers a type, or changes (and un-retires) the one of that name.
pub async fn put_type(
    state: &AppState,
    tenant: Uuid,
    editor: Editor,
    input: TypeInput,
) -> Result<TypeDef, AppError> {
    let name = input.name.trim().to_owned();
    let after = update(state, tenant, |before| {
        let new = checked(input.clone(), before)?;
        let mut after = before.clone();
        let old = after.types.iter().position(|t| t.name == new.name);
        let (event, description, changes) = match old {
            Some(i) if after.types[i] == new => return Ok(None),
            Some(i) => {
                let was = std::mem::replace(&mut after.types[i], new.clone());
                let verb = if was.retired { "Restored" } else { "Changed" };
                (
                    EventType::CatalogTypeChanged,
                    format!("{verb} event type {}", new.name),
                    crate::diff::diff(&type_json(&was), &type_json(&new)),
                )
            }
            None => {
                if after.types.len() >= MAX_TENANT_TYPES {
                    return Err(bad(format!(
                        "a tenant registers at most {MAX_TENANT_TYPES} event types"
                    )));
                }
                after.types.push(new.clone());
                (
                    EventType::CatalogTypeRegistered,
                    format!("Registered event type {}", new.name),
                    crate::diff::diff(&json!({}), &type_json(&new)),
                )
            }
        };
        let mut entry = editor.entry(event, description, ("event_type", &new.name));
        entry.changes = changes;
        Ok(Some((after, entry)))
    })
    .await?;
    after.resolve(&name).map_err(|e| bad(e.to_string()))
}

/// Retires a type: new events of it are refused, its entries stay readable.
pub async fn retire_type(
    state: &AppState,
    tenant: Uuid,
    editor: Editor,
    name: &str,
) -> Result<(), AppError> {
    update(state, tenant, |before| {
        let mut after = before.clone();
        let t = after
            .types
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| AppError::NotFound(format!("the tenant has no event type `{name}`")))?;
        if t.retired {
            return Ok(None);
        }
        t.retired = true;
        let entry = editor
            .entry(
                EventType::CatalogTypeRetired,
                format!("Retired event type {name}"),
                ("event_type", name),
            )
            .change("retired", Some(json!(false)), Some(json!(true)));
        Ok(Some((after, entry)))
    })
    .await?;
    Ok(())
}

/// Switches a pack on or off for the tenant.
pub async fn set_pack(
    state: &AppState,
    tenant: Uuid,
    editor: Editor,
    pack_id: &str,
    on: bool,
) -> Result<(), AppError> {
    let pack = crate::packs::pack(pack_id).ok_or_else(|| {
        let ids: Vec<&str> = crate::packs::PACKS.iter().map(|p| p.id).collect();
        AppError::NotFound(format!(
            "no catalog pack `{pack_id}`: there are {}",
            ids.join(", ")
        ))
    })?;
    update(state, tenant, |before| {
        if before.has_pack(pack.id) == on {
            return Ok(None);
        }
        let mut after = before.clone();
        if on {
            after.packs.push(pack.id.to_owned());
        } else {
            after.packs.retain(|p| p != pack.id);
        }
        let (event, verb) = if on {
            (EventType::CatalogPackEnabled, "Switched on")
        } else {
            (EventType::CatalogPackDisabled, "Switched off")
        };
        let entry = editor
            .entry(
                event,
                format!("{verb} the {} catalog pack", pack.name),
                ("catalog_pack", pack.id),
            )
            .change("packs", Some(json!(before.packs)), Some(json!(after.packs)));
        Ok(Some((after, entry)))
    })
    .await?;
    Ok(())
}

/// What the tenant's log can hold, for the catalog page and `GET /api/v1/catalog`.
pub async fn view(
    state: &AppState,
    tenant: Uuid,
    tenant_slug: String,
    can_manage: bool,
) -> Result<CatalogView, AppError> {
    let catalog = state.store.catalog(tenant).await?;
    Ok(CatalogView {
        tenant_slug,
        types: catalog.all(),
        categories: catalog
            .categories()
            .into_iter()
            .map(|(c, label)| (c.as_str().to_owned(), label))
            .collect(),
        packs: crate::packs::PACKS
            .iter()
            .map(|p| PackView {
                id: p.id.to_owned(),
                name: p.name.to_owned(),
                description: p.description.to_owned(),
                enabled: catalog.has_pack(p.id),
                types: p.types.len(),
            })
            .collect(),
        can_manage,
    })
}

/// Refuses a filter on a category or type the tenant's entries cannot have (a
/// typo), reading the tenant's catalog only for names that are not built in.
pub async fn check_filter(
    state: &AppState,
    tenant: Uuid,
    filter: &crate::api::FeedFilter,
) -> Result<(), AppError> {
    use crate::query::Field;
    // The filter's own fields and the search's (positive) terms; an excluded
    // unknown name excludes nothing, which is no mistake worth refusing.
    let query = filter.query();
    let named = |field: Field| {
        query
            .of(field)
            .filter(|t| !t.negated)
            .flat_map(|t| t.values.clone())
            .collect::<Vec<_>>()
    };
    let categories: Vec<CategoryName> = filter
        .category
        .iter()
        .cloned()
        .chain(
            named(Field::Category)
                .iter()
                .filter_map(|c| CategoryName::parse(c)),
        )
        .collect();
    let types: Vec<crate::catalog::TypeName> = filter
        .event_type
        .iter()
        .cloned()
        .chain(
            named(Field::Event)
                .iter()
                .filter_map(|t| crate::catalog::TypeName::parse(t).ok()),
        )
        .collect();
    let own_category = categories
        .iter()
        .any(|c| matches!(c, CategoryName::Other(s) if crate::packs::category_label(s).is_none()));
    let own_type = types.iter().any(
        |t| matches!(t, crate::catalog::TypeName::Other(n) if crate::packs::pack_of(n).is_none()),
    );
    let catalog = if own_category || own_type {
        state.store.catalog(tenant).await?
    } else {
        TenantCatalog::default()
    };
    if let Some(c) = categories.iter().find(|c| !catalog.knows_category(c)) {
        return Err(bad(format!(
            "category: unknown category `{c}` (see the catalog page for this tenant's)"
        )));
    }
    if let Some(t) = types.iter().find(|t| !catalog.knows_type(t)) {
        return Err(bad(format!(
            "event_type: unknown event type `{t}` (see the catalog page for this tenant's)"
        )));
    }
    Ok(())
}

// ---- the server functions' halves (a browser session) ----

/// The tenant a session asks about, and whether it may change its catalog (the
/// refusal, if not).
async fn session_tenant(
    state: &AppState,
    tenant: Option<String>,
) -> Result<
    (
        super::session::Session,
        crate::entry::Tenant,
        Result<(), AppError>,
    ),
    AppError,
> {
    let session = super::session::require_session(state).await?;
    let tenant = super::feeds::target_tenant(state, &session, tenant.as_deref()).await?;
    let manage = crate::auth::require(
        Some(&session.caller),
        crate::auth::Permission::ManageCatalog,
        crate::auth::Scope::Tenant(tenant.id),
    );
    Ok((session, tenant, manage))
}

/// Any account of the tenant (and super admins) may read what its log can hold.
pub async fn catalog_of(tenant: Option<String>) -> Result<CatalogView, AppError> {
    let state = super::state()?;
    let (_, tenant, manage) = session_tenant(&state, tenant).await?;
    view(&state, tenant.id, tenant.slug, manage.is_ok()).await
}

async fn managed(tenant: Option<String>) -> Result<(AppState, Uuid, Editor), AppError> {
    let state = super::state()?;
    let (session, tenant, manage) = session_tenant(&state, tenant).await?;
    manage?;
    let editor = Editor {
        actor: session.actor(),
        context: session.context(),
    };
    Ok((state, tenant.id, editor))
}

pub async fn put_own_type(tenant: Option<String>, input: TypeInput) -> Result<TypeDef, AppError> {
    let (state, tenant, editor) = managed(tenant).await?;
    put_type(&state, tenant, editor, input).await
}

pub async fn retire_own_type(tenant: Option<String>, name: String) -> Result<(), AppError> {
    let (state, tenant, editor) = managed(tenant).await?;
    retire_type(&state, tenant, editor, &name).await
}

pub async fn switch_pack(tenant: Option<String>, pack: String, on: bool) -> Result<(), AppError> {
    let (state, tenant, editor) = managed(tenant).await?;
    set_pack(&state, tenant, editor, &pack, on).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Action;

    fn input(name: &str, category: &str, label: Option<&str>) -> TypeInput {
        TypeInput {
            name: name.into(),
            category: category.into(),
            category_label: label.map(str::to_owned),
            action: Action::Create,
            description: "Backup completed".into(),
            schema: None,
            critical: false,
        }
    }

    #[test]
    fn names_outside_the_tenant_namespace_are_refused() {
        let c = TenantCatalog::default();
        for name in [
            "backup.completed",
            "custom",
            "custom.",
            "custom.Backup",
            "custom..x",
            "custom.backup-done",
            "extension.created",
            "host.create",
            " custom.x y",
        ] {
            assert!(checked(input(name, "config", None), &c).is_err(), "{name}");
        }
        assert!(checked(input("custom.backup.completed", "config", None), &c).is_ok());
        assert!(checked(input("custom.backup", "hosts", None), &c).is_ok());
    }

    #[test]
    fn a_new_category_needs_one_label() {
        let mut c = TenantCatalog::default();
        assert!(checked(input("custom.a.b", "backups", None), &c)
            .unwrap_err()
            .to_string()
            .contains("category_label"));
        let t = checked(input("custom.a.b", "backups", Some("Backups")), &c).unwrap();
        c.types.push(t);
        assert!(checked(input("custom.a.c", "backups", Some("Other")), &c).is_err());
        let t = checked(input("custom.a.c", "backups", None), &c).unwrap();
        assert_eq!(t.category_label.as_deref(), Some("Backups"));
        assert!(checked(input("custom.a.d", "audit", None), &c).is_err());
    }

    #[test]
    fn schema_errors_name_their_path() {
        let v = compile(&json!({
            "type": "object",
            "required": ["job"],
            "properties": {
                "job": {"type": "string"},
                "hosts": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}}
            }
        }))
        .unwrap();
        let errors = schema_errors(&v, &json!({"hosts": [{"port": 1}, {"port": "x"}]}));
        let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&""), "{errors:?}");
        assert!(paths.contains(&".hosts[1].port"), "{errors:?}");
        assert!(schema_errors(&v, &json!({"job": "nightly"})).is_empty());
        assert!(compile(&json!({"type": 12})).is_err());
        assert!(compile(&json!([1])).is_err());
        assert!(compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
    }
}
