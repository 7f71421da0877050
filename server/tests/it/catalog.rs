//! The open catalog through the real router, on both stores: a tenant's own event
//! types (registered, used, changed, retired, validated by their schema), catalog
//! packs switched on and off, entries naming several resources, critical entries
//! surviving the purge (clock aged past the retention), concurrent changes, and
//! tenant isolation.

use super::http::TestApp;
use app::catalog::EventType;
use app::clock::Clock;
use app::ssr::admin::issue_api_key;
use app::store::Mutation;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use chrono::Duration;
use serde_json::{json, Value};

const JANE: &str = "jane@northwind.example"; // owner
const MARCO: &str = "marco@northwind.example"; // admin

impl TestApp {
    /// A fresh API key of a demo tenant with these scopes (spelled in full).
    async fn scoped_key(&self, slug: &str, scopes: &[&str]) -> String {
        let tenant = self.tenant(slug).await;
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        issue_api_key(&self.state, tenant.id, "catalog test", &scopes, None)
            .await
            .unwrap()
            .1
    }

    /// A REST call with an API key: its status and JSON answer (`null` if none).
    async fn rest(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .unwrap();
        let a = self.send(req).await;
        (
            a.status,
            serde_json::from_str(&a.body).unwrap_or(Value::Null),
        )
    }

    /// A bodiless catalog change that must answer 204 and be audited in Northwind's
    /// log as `audited` (its newest entry).
    async fn audited(&self, method: Method, path: &str, key: &str, audited: EventType) {
        let (status, answer) = self.rest(method, path, key, Value::Null).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {answer}");
        assert_eq!(self.entries("northwind").await[0].event_type, audited);
    }

    async fn post(&self, key: &str, events: Value) -> (StatusCode, Value) {
        self.rest(Method::POST, "/api/v1/events", key, events).await
    }
}

fn backup_type() -> Value {
    json!({
        "name": "custom.backup.completed",
        "category": "backups",
        "category_label": "Backups",
        "action": "complete",
        "description": "A nightly backup finished",
        "schema": {
            "type": "object",
            "required": ["job"],
            "properties": {
                "job": {"type": "string"},
                "bytes": {"type": "integer", "minimum": 0},
                "hosts": {"type": "array", "items": {"type": "string"}}
            }
        }
    })
}

fn backup_event(job: &str) -> Value {
    json!({
        "event_type": "custom.backup.completed",
        "description": format!("Backup {job} finished"),
        "actor": "system",
        "target": {"kind": "backup_job", "id": job, "name": job},
        "metadata": {"job": job, "bytes": 1024, "hosts": ["db-1"]}
    })
}

fn errors(answer: &Value) -> Vec<(String, String)> {
    answer["results"][0]["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_tenant_registers_uses_changes_and_retires_its_own_type() {
    let app = TestApp::new().await;
    let t = app.tenant("northwind").await;
    let writer = app
        .scoped_key("northwind", &["events:write", "events:read"])
        .await;
    let manager = app.scoped_key("northwind", &["catalog:write"]).await;

    // Unknown: a clear 422 that says how to register it, and nothing written.
    let before = app.store.head(t.id).await.unwrap();
    let (status, answer) = app.post(&writer, backup_event("nightly")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (field, message) = &errors(&answer)[0];
    assert_eq!(field, "event_type");
    assert!(message.contains("POST /api/v1/catalog/types"), "{message}");
    assert!(message.contains("catalog:write"), "{message}");
    assert_eq!(app.store.head(t.id).await.unwrap(), before);

    // Registering needs the catalog scope.
    let (status, _) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types",
            &writer,
            backup_type(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad registrations say what is wrong and change nothing.
    for (patch, says) in [
        (json!({"name": "backup.completed"}), "custom."),
        (json!({"name": "custom.Backup"}), "custom."),
        (
            json!({"category_label": null, "category": "vaults"}),
            "category_label",
        ),
        (json!({"category": "audit"}), "audit"),
        (json!({"schema": {"type": 12}}), "schema"),
        (
            json!({"schema": {"$ref": "https://example.com/s.json"}}),
            "schema",
        ),
        (json!({"action": "explode"}), "unknown variant"),
        (json!({"colour": "red"}), "colour"),
        (json!({"description": ""}), "description"),
    ] {
        let mut body = backup_type();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = app
            .rest(Method::POST, "/api/v1/catalog/types", &manager, body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{patch}: {message}");
    }
    assert_eq!(app.store.head(t.id).await.unwrap(), before);
    assert!(app.store.catalog(t.id).await.unwrap().types.is_empty());

    // Registered: audited with the whole definition as its after.
    let (status, def) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types",
            &manager,
            backup_type(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{def}");
    assert_eq!(def["category_label"], "Backups");
    assert_eq!(def["origin"]["kind"], "tenant");
    let audit = &app.entries("northwind").await[0];
    assert_eq!(audit.event_type, EventType::CatalogTypeRegistered);
    assert_eq!(audit.target.as_ref().unwrap().id, "custom.backup.completed");
    assert!(audit
        .changes
        .iter()
        .any(|c| c.path == "category" && c.old.is_none() && c.new == Some(json!("backups"))));
    assert_eq!(audit.actor.kind, app::entry::ActorKind::ApiKey);

    // Used: valid metadata is accepted, invalid is refused with every path.
    let (status, answer) = app.post(&writer, backup_event("nightly")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut bad = backup_event("weekly");
    bad["metadata"] = json!({"bytes": -5, "hosts": ["db-1", 7]});
    let (status, answer) = app.post(&writer, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let mut fields: Vec<String> = errors(&answer).into_iter().map(|(f, _)| f).collect();
    fields.sort();
    assert_eq!(fields, ["metadata", "metadata.bytes", "metadata.hosts[1]"]);
    let entry = &app.entries("northwind").await[0];
    assert_eq!(entry.event_type.as_str(), "custom.backup.completed");
    assert_eq!(entry.category().as_str(), "backups");
    assert_eq!(entry.action(), app::catalog::Action::Complete);

    // Changed: only what changed is audited; the same definition again is a no-op.
    let mut changed = backup_type();
    changed["description"] = json!("A backup finished");
    changed["critical"] = json!(true);
    let (status, _) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types",
            &manager,
            changed.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let audit = &app.entries("northwind").await[0];
    assert_eq!(audit.event_type, EventType::CatalogTypeChanged);
    let mut paths: Vec<&str> = audit.changes.iter().map(|c| c.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["critical", "description"]);
    let head = app.store.head(t.id).await.unwrap();
    app.rest(Method::POST, "/api/v1/catalog/types", &manager, changed)
        .await;
    assert_eq!(app.store.head(t.id).await.unwrap(), head);
    assert!(app
        .store
        .catalog(t.id)
        .await
        .unwrap()
        .critical_names()
        .contains(&"custom.backup.completed".to_owned()));

    // Retired: refused from now on, its entries stay readable and filterable.
    app.audited(
        Method::POST,
        "/api/v1/catalog/types/custom.backup.completed/retire",
        &manager,
        EventType::CatalogTypeRetired,
    )
    .await;
    let (status, answer) = app.post(&writer, backup_event("monthly")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(errors(&answer)[0].1.contains("retired"), "{answer}");
    let (status, page) = app
        .rest(
            Method::GET,
            "/api/v1/events?event_type=custom.backup.completed&category=backups",
            &writer,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let (_, catalog) = app
        .rest(Method::GET, "/api/v1/catalog", &writer, Value::Null)
        .await;
    let own = catalog["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "custom.backup.completed")
        .unwrap();
    assert_eq!(own["retired"], true);
    assert!(catalog["categories"]
        .as_array()
        .unwrap()
        .contains(&json!(["backups", "Backups"])));
    let retire_unknown = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types/custom.never/retire",
            &manager,
            Value::Null,
        )
        .await;
    assert_eq!(retire_unknown.0, StatusCode::NOT_FOUND);

    // Owners manage the catalog from the browser; admins may not.
    let jane = app.login(JANE).await;
    let marco = app.login(MARCO).await;
    let input = json!({"input": {
        "name": "custom.restore.started", "category": "backups", "action": "start",
        "description": "A restore started"
    }});
    let a = app
        .call(Some(&marco), "put_event_type", input.clone())
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = app
        .call(
            Some(&marco),
            "create_api_key",
            json!({"name": "x", "scopes": ["catalog:write"]}),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "an admin cannot hand out more than they have"
    );
    let a = app.call(Some(&jane), "put_event_type", input).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let def: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        def["category_label"], "Backups",
        "the category's label is reused"
    );
    let audit = &app.entries("northwind").await[0];
    assert_eq!(audit.actor.label, "Jane Doe <jane@northwind.example>");
    let a = app.call(Some(&marco), "catalog", json!({})).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "anyone of the tenant reads the catalog"
    );
    let view: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(view["can_manage"], false);
}

#[tokio::test]
async fn another_tenant_cannot_see_or_use_your_types() {
    let app = TestApp::new().await;
    let manager = app.scoped_key("northwind", &["catalog:write"]).await;
    let (status, _) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types",
            &manager,
            backup_type(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.rest(
        Method::POST,
        "/api/v1/catalog/packs/monitoring",
        &manager,
        Value::Null,
    )
    .await;

    let harbor = app
        .scoped_key("harbor", &["events:write", "events:read", "catalog:write"])
        .await;
    let (status, answer) = app.post(&harbor, backup_event("nightly")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = app
        .post(
            &harbor,
            json!({"event_type": "host.create", "description": "x"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "northwind's pack is not harbor's: {answer}"
    );
    let (_, catalog) = app
        .rest(Method::GET, "/api/v1/catalog", &harbor, Value::Null)
        .await;
    let names: Vec<&str> = catalog["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"custom.backup.completed"));
    assert!(!names.contains(&"host.create"));
    assert!(catalog["packs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["enabled"] == false));
    let (status, _) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/types/custom.backup.completed/retire",
            &harbor,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = app
        .rest(
            Method::GET,
            "/api/v1/events?event_type=custom.backup.completed",
            &harbor,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Northwind's type is untouched by Harbor's attempts.
    let nw = app.tenant("northwind").await;
    let own = app.store.catalog(nw.id).await.unwrap();
    assert!(!own.types[0].retired);
    // And a super admin reads each tenant's own catalog.
    let root = app.login(server::demo::DEMO_SUPER_ADMIN).await;
    let a = app
        .call(Some(&root), "catalog", json!({"tenant": "northwind"}))
        .await;
    assert!(a.body.contains("custom.backup.completed"), "{}", a.body);
    let a = app
        .call(Some(&root), "catalog", json!({"tenant": "harbor"}))
        .await;
    assert!(!a.body.contains("custom.backup.completed"));
}

#[tokio::test]
async fn a_packs_events_reach_the_feeds_and_filters_and_match_any_target() {
    let app = TestApp::new().await;
    let key = app
        .scoped_key(
            "northwind",
            &["events:write", "events:read", "catalog:write"],
        )
        .await;
    let host = json!({
        "event_type": "host.create", "description": "Added host db-1",
        "actor": {"kind": "user", "id": "u-9", "email": "ops@northwind.example"},
        "target": {"kind": "host", "id": "h-1", "name": "db-1"},
        "after": {"address": "10.0.0.5"}
    });
    let (status, answer) = app.post(&key, host.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        errors(&answer)[0]
            .1
            .contains("/api/v1/catalog/packs/monitoring"),
        "{answer}"
    );

    for pack in ["monitoring", "api_gateway"] {
        let path = format!("/api/v1/catalog/packs/{pack}");
        app.audited(Method::POST, &path, &key, EventType::CatalogPackEnabled)
            .await;
    }
    let (status, answer) = app
        .rest(
            Method::POST,
            "/api/v1/catalog/packs/nope",
            &key,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    let events = json!([
        host,
        {"event_type": "host_service.ack", "description": "Acknowledged disk on db-1",
         "target": {"kind": "host_service", "id": "hs-4", "name": "disk"}},
        {"event_type": "alert_rule.update", "description": "Lowered the warning threshold",
         "target": {"kind": "alert_rule", "id": "ar-2", "name": "cpu"},
         "before": {"alert_rule_threshold_warn": 80}, "after": {"alert_rule_threshold_warn": 50}},
        {"event_type": "client.assign", "description": "Assigned office-ip to stripe-payments",
         "targets": [
            {"kind": "client", "id": "cl-1", "name": "office-ip"},
            {"kind": "route", "id": "route_abc123", "name": "stripe-payments"},
            {"kind": "environment", "id": "env-prod", "name": "production"}
         ]},
        {"event_type": "route.update", "description": "Changed the target URL",
         "target": {"kind": "route", "id": "route_abc123", "name": "stripe-payments"},
         "before": {"target_url": "https://api.stripe.com/v1/charges"},
         "after": {"target_url": "https://api.eu.stripe.com/v1/charges"}},
        {"event_type": "byok.kms.rotate", "description": "Rotated the tenant master key",
         "targets": [{"kind": "kms_key", "id": "k-1"}, {"kind": "environment", "id": "env-prod"}]}
    ]);
    let (status, answer) = app.post(&key, events).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let jane = app.login(JANE).await;
    let feed = |filter: Value| {
        let app = &app;
        let jane = jane.clone();
        async move {
            let a = app
                .call(Some(&jane), "tenant_feed", json!({"filter": filter}))
                .await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            let page: Value = serde_json::from_str(&a.body).unwrap();
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_type"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        feed(json!({"category": "hosts"})).await,
        ["host_service.ack", "host.create"]
    );
    assert_eq!(
        feed(json!({"category": "alerting"})).await,
        ["alert_rule.update"]
    );
    assert_eq!(
        feed(json!({"event_type": "byok.kms.rotate"})).await,
        ["byok.kms.rotate"]
    );
    // "Changes related to a route": its own entry and the assignment naming it second.
    assert_eq!(
        feed(json!({"target_kind": "route", "target_id": "route_abc123"})).await,
        ["route.update", "client.assign"]
    );
    // "Filter by environment": any entry naming it, wherever in its targets.
    assert_eq!(
        feed(json!({"target_kind": "environment", "target_id": "env-prod"})).await,
        ["byok.kms.rotate", "client.assign"]
    );
    assert_eq!(feed(json!({"target_id": "cl-1"})).await, ["client.assign"]);
    assert_eq!(
        feed(json!({"resource": "PRODUCTION"})).await,
        ["client.assign"]
    );
    let a = app
        .call(
            Some(&jane),
            "tenant_feed",
            json!({"filter": {"category": "nope"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // The entry keeps every target, hashed: the log verifies, the export too.
    let assign = app
        .entries("northwind")
        .await
        .into_iter()
        .find(|e| e.event_type.as_str() == "client.assign")
        .unwrap();
    assert_eq!(assign.targets().count(), 3);
    let detail = app
        .call(Some(&jane), "get_entry", json!({"id": assign.id}))
        .await;
    assert!(
        detail.body.contains("\"category_label\":\"Clients\""),
        "{}",
        detail.body
    );
    let t = app.tenant("northwind").await;
    let report =
        app::ssr::integrity::verify_log(app.store.as_ref(), t.id, &app.state.trusted_keys())
            .await
            .unwrap();
    assert!(report.ok, "{report:?}");
    let (status, body, _) = super::export::export(&app, Some(&jane), "format=ndjson").await;
    assert_eq!(status, StatusCode::OK);
    let offline =
        app::verify::verify_export(body.lines(), None, &app.state.trusted_keys()).unwrap();
    assert!(offline.complete, "{offline:?}");

    // Switched off: new events refused, the old ones stay and filter.
    app.audited(
        Method::DELETE,
        "/api/v1/catalog/packs/monitoring",
        &key,
        EventType::CatalogPackDisabled,
    )
    .await;
    let (status, _) = app
        .post(
            &key,
            json!({"event_type": "host.delete", "description": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(feed(json!({"category": "hosts"})).await.len(), 2);
}

#[tokio::test]
async fn critical_pack_and_own_entries_survive_the_purge_and_the_chain_verifies() {
    let clock = super::clock();
    let app = TestApp::with_clock(clock.clone()).await;
    let t = app.tenant("harbor").await;
    let key = app
        .scoped_key("harbor", &["events:write", "catalog:write"])
        .await;
    app.rest(
        Method::POST,
        "/api/v1/catalog/packs/api_gateway",
        &key,
        Value::Null,
    )
    .await;
    let mut escrow = backup_type();
    escrow["name"] = json!("custom.key.escrowed");
    escrow["critical"] = json!(true);
    escrow["schema"] = Value::Null;
    for body in [backup_type(), escrow] {
        let (status, answer) = app
            .rest(Method::POST, "/api/v1/catalog/types", &key, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = app
        .post(
            &key,
            json!([
                {"event_type": "byok.kms.rotate", "description": "Rotated the master key"},
                {"event_type": "migration.item.reveal", "description": "Revealed item 4 to a reviewer",
                 "targets": [{"kind": "migration", "id": "m-1"}, {"kind": "secret", "id": "s-4"}]},
                {"event_type": "tenant.impersonate", "description": "Support impersonated the tenant"},
                {"event_type": "custom.key.escrowed", "description": "Escrowed the key"},
                {"event_type": "route.update", "description": "Changed a route"},
                backup_event("nightly"),
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let critical_now = |entries: &[app::entry::Entry]| -> Vec<String> {
        entries
            .iter()
            .map(|e| e.event_type.as_str().to_owned())
            .filter(|n| {
                [
                    "byok.kms.rotate",
                    "migration.item.reveal",
                    "tenant.impersonate",
                    "custom.key.escrowed",
                ]
                .contains(&n.as_str())
            })
            .collect()
    };
    let head = app.store.head(t.id).await.unwrap();
    app.store
        .commit(
            t.id,
            Mutation::SetRetention {
                tenant_id: t.id,
                days: Some(30),
            },
            vec![],
        )
        .await
        .unwrap();

    clock.advance(Duration::days(31));
    let report = app::ssr::retention::purge_due(&app.state).await.unwrap();
    assert!(
        report.failed.is_empty() && report.done.contains(&t.id),
        "{report:?}"
    );
    let left = app.entries("harbor").await;
    let mut kept = critical_now(&left);
    kept.sort();
    assert_eq!(
        kept,
        [
            "byok.kms.rotate",
            "custom.key.escrowed",
            "migration.item.reveal",
            "tenant.impersonate"
        ]
    );
    for gone in ["route.update", "custom.backup.completed"] {
        assert!(
            left.iter().all(|e| e.event_type.as_str() != gone),
            "{gone} was purged"
        );
    }
    // The reveal keeps its targets and stays findable by its secret.
    let a = app
        .call(
            Some(&app.login("olivia@harbor.example").await),
            "tenant_feed",
            json!({"filter": {"target_kind": "secret", "target_id": "s-4"}}),
        )
        .await;
    assert!(a.body.contains("migration.item.reveal"), "{}", a.body);
    assert!(left.iter().all(|e| e.seq <= i64::try_from(head).unwrap()
        || e.event_type == EventType::AuditPurged
        || e.event_type == EventType::AuthLoginSucceeded));
    let verified =
        app::ssr::integrity::verify_log(app.store.as_ref(), t.id, &app.state.trusted_keys())
            .await
            .unwrap();
    assert!(verified.ok, "{verified:?}");
    assert!(verified.kept_critical >= 4, "{verified:?}");
    let olivia = app.login("olivia@harbor.example").await;
    let (status, body, _) = super::export::export(&app, Some(&olivia), "format=ndjson").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let offline =
        app::verify::verify_export(body.lines(), None, &app.state.trusted_keys()).unwrap();
    assert!(offline.complete && offline.signature_checked, "{offline:?}");
    assert!(offline.kept_critical >= 4, "{offline:?}");
    assert_eq!(app.state.now(), clock.now());
}

#[tokio::test]
async fn concurrent_catalog_changes_all_land_and_each_audit_follows_the_last() {
    let app = TestApp::new().await;
    let t = app.tenant("northwind").await;
    let key = app.scoped_key("northwind", &["catalog:write"]).await;
    // All at once, each type from `patch(i)`: every one must answer 200.
    let post_all = |patch: fn(usize, &mut Value)| {
        let (app, key) = (&app, &key);
        async move {
            let posts = (0..8).map(|i| {
                let mut body = backup_type();
                patch(i, &mut body);
                async move {
                    app.rest(Method::POST, "/api/v1/catalog/types", key, body)
                        .await
                        .0
                }
            });
            let statuses = futures::future::join_all(posts).await;
            assert!(
                statuses.iter().all(|s| *s == StatusCode::OK),
                "{statuses:?}"
            );
        }
    };
    // Eight producers register eight types at once: all of them land.
    post_all(|i, body| body["name"] = json!(format!("custom.job{i}.done"))).await;
    let catalog = app.store.catalog(t.id).await.unwrap();
    assert_eq!(catalog.types.len(), 8);

    // Eight changes of one type at once: each audit's before is the after of the
    // one committed before it, and the last one's after is what is stored.
    post_all(|i, body| {
        body["name"] = json!("custom.job0.done");
        body["description"] = json!(format!("Version {i}"));
    })
    .await;
    let mut audits: Vec<_> = app
        .entries("northwind")
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::CatalogTypeChanged)
        .collect();
    audits.reverse();
    assert_eq!(audits.len(), 8);
    let mut description = json!("A nightly backup finished");
    for a in &audits {
        let c = a.changes.iter().find(|c| c.path == "description").unwrap();
        assert_eq!(c.old.as_ref(), Some(&description), "{a:?}");
        description = c.new.clone().unwrap();
    }
    let stored = app.store.catalog(t.id).await.unwrap();
    let job0 = stored
        .types
        .iter()
        .find(|t| t.name == "custom.job0.done")
        .unwrap();
    assert_eq!(json!(job0.description), description);
}
