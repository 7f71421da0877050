//! The ingestion and read API through the real router, on a real SQLite file:
//! limits, precise errors, atomic batches, idempotent retries, redaction down to the
//! file's bytes, tenant isolation and the System actor.

use super::http::TestApp;
use app::entry::ActorKind;
use app::ssr::admin::issue_api_key;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

impl TestApp {
    /// A fresh API key of a demo tenant, with the given scopes.
    async fn key(&self, slug: &str, scopes: &[&str]) -> String {
        let tenant = self.tenant(slug).await;
        let scopes: Vec<String> = scopes.iter().map(|s| format!("events:{s}")).collect();
        issue_api_key(&self.state, tenant.id, "test producer", &scopes, None)
            .await
            .unwrap()
            .1
    }

    async fn post_events(&self, key: Option<&str>, body: impl Into<Body>) -> (StatusCode, Value) {
        let mut req = Request::post("/api/v1/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "pbx-sync/2.1");
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let a = self.send(req.body(body.into()).unwrap()).await;
        let json = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        (a.status, json)
    }

    async fn get_events(&self, key: Option<&str>, query: &str) -> (StatusCode, Value) {
        let mut req = Request::get(format!("/api/v1/events{query}"));
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let a = self.send(req.body(Body::empty()).unwrap()).await;
        let json = serde_json::from_str(&a.body).unwrap_or(Value::Null);
        (a.status, json)
    }

    async fn count(&self, slug: &str) -> usize {
        self.entries(slug).await.len()
    }
}

fn event(n: usize) -> Value {
    json!({
        "event_type": "extension.updated",
        "description": format!("Renamed extension {n}"),
        "actor": {"kind": "user", "id": "tech-17", "name": "Ana Lima", "email": "ana@northwind.example"},
        "instance": {"id": "pbx-acme-hq"},
        "target": {"kind": "extension", "id": n, "name": "Reception"},
        "before": {"name": "Reception", "ring_timeout_s": 20},
        "after": {"name": format!("Front Desk {n}"), "ring_timeout_s": 20},
        "occurred_at": "2026-11-20T09:30:00Z",
        "idempotency_key": format!("sync-{n}")
    })
}

#[tokio::test]
async fn a_batch_commits_and_a_retry_with_the_same_keys_writes_nothing() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let before = app.count("northwind").await;
    let batch = json!({"events": [event(1), event(2), event(3)]});
    let (status, first) = app.post_events(Some(&key), batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["accepted"], 3);
    let seqs: Vec<i64> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs[1], seqs[0] + 1);
    assert_eq!(seqs[2], seqs[0] + 2);
    assert_eq!(app.count("northwind").await, before + 3);

    let (status, retry) = app.post_events(Some(&key), batch.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{retry}");
    assert_eq!(
        (retry["accepted"].as_u64(), retry["replayed"].as_u64()),
        (Some(0), Some(3))
    );
    for (a, b) in first["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(retry["results"].as_array().unwrap())
    {
        assert_eq!(
            (&a["id"], &a["seq"], &a["hash"]),
            (&b["id"], &b["seq"], &b["hash"])
        );
        assert_eq!(b["status"], "replayed");
    }
    assert_eq!(
        app.count("northwind").await,
        before + 3,
        "a retry writes nothing"
    );

    // What was stored: the diff, the snapshotted instance name, the user's label.
    let stored = app.entries("northwind").await;
    let e = stored
        .iter()
        .find(|e| e.idempotency_key.as_deref() == Some("sync-2"))
        .unwrap();
    assert_eq!(e.instance.as_ref().unwrap().name, "Acme HQ");
    assert_eq!(e.actor.label, "Ana Lima <ana@northwind.example>");
    assert_eq!(e.changes.len(), 1);
    assert_eq!(e.changes[0].path, "name");
    assert_eq!(e.changes[0].new, Some(json!("Front Desk 2")));
    assert_eq!(e.context.user_agent.as_deref(), Some("pbx-sync/2.1"));
    assert_eq!(e.occurred_at.to_rfc3339(), "2026-11-20T09:30:00+00:00");
}

#[tokio::test]
async fn one_invalid_event_is_refused_and_the_valid_ones_commit() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let before = app.count("northwind").await;
    let mut bad = event(2);
    bad["event_type"] = json!("extension.exploded");
    bad["occurred_at"] = json!("last tuesday");
    let (status, answer) = app
        .post_events(Some(&key), json!([event(1), bad, event(3)]).to_string())
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{answer}");
    assert_eq!(
        (answer["accepted"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let rejected = &answer["results"][1];
    assert_eq!(
        (rejected["index"].as_u64(), rejected["status"].as_str()),
        (Some(1), Some("rejected"))
    );
    let fields: Vec<&str> = rejected["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["event_type", "occurred_at"]);
    assert!(rejected["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("extension.exploded"));
    assert_eq!(answer["results"][2]["status"], "created");
    assert_eq!(app.count("northwind").await, before + 2);
}

#[tokio::test]
async fn every_limit_gives_its_documented_status_and_writes_nothing() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let before = app.count("northwind").await;
    let bytes_before = app.db_bytes().len();

    let deep = {
        let mut v = json!("bottom");
        for _ in 0..40 {
            v = json!({ "x": v });
        }
        let mut e = event(1);
        e["metadata"] = v;
        e
    };
    let oversized_event = {
        let mut e = event(1);
        e["metadata"] = json!({"blob": "x".repeat(70 * 1024)});
        e
    };
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "oversize body",
            format!("[{}]", event(1)).replace("Reception", &"R".repeat(1_100_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "too many events",
            json!({"events": vec![event(1); 1001]}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
        ),
        (
            "nesting too deep",
            deep.to_string(),
            StatusCode::BAD_REQUEST,
            "too_deep",
        ),
        (
            "malformed JSON",
            "{\"event_type\": ".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "empty batch",
            "{\"events\": []}".to_owned(),
            StatusCode::BAD_REQUEST,
            "empty_batch",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, answer) = app.post_events(Some(&key), body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
    }

    // Per-event refusals: a single bad event answers 422 with its field.
    let mut wrong_types = event(1);
    wrong_types["description"] = json!(42);
    let mut unknown_type = event(1);
    unknown_type["event_type"] = json!("pbx.teleported");
    let mut bad_time = event(1);
    bad_time["occurred_at"] = json!("2026-13-45T99:00:00Z");
    let mut unknown_field = event(1);
    unknown_field["colour"] = json!("red");
    let cases = vec![
        ("wrong field type", wrong_types, "description"),
        ("unknown event type", unknown_type, "event_type"),
        ("bad timestamp", bad_time, "occurred_at"),
        ("unknown field", unknown_field, "colour"),
        ("event over 64 KiB", oversized_event, "(event)"),
    ];
    for (what, e, field) in cases {
        let (got, answer) = app.post_events(Some(&key), e.to_string()).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(
            answer["results"][0]["errors"][0]["field"], field,
            "{what}: {answer}"
        );
    }
    assert_eq!(app.count("northwind").await, before, "nothing was written");
    assert!(app.db_bytes().len() >= bytes_before);
}

#[tokio::test]
async fn keys_are_checked_and_never_cross_tenants() {
    let app = TestApp::new().await;
    let northwind_writer = app.key("northwind", &["write"]).await;
    let harbor_key = app.key("harbor", &["write", "read"]).await;
    let (status, answer) = app.post_events(None, event(1).to_string()).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("missing_api_key"))
    );
    let (status, _) = app
        .post_events(Some("stk_not-a-key"), event(1).to_string())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A browser session is not an API key.
    let cookie = app.login("jane@northwind.example").await;
    let a = app
        .send(
            Request::post("/api/v1/events")
                .header(header::COOKIE, cookie)
                .body(Body::from(event(1).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A writer cannot read; reads need the read scope.
    let (status, answer) = app.get_events(Some(&northwind_writer), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    // Harbor's key writes into Harbor only, even naming Northwind's instance id.
    let northwind_before = app.count("northwind").await;
    let mut e = event(9);
    e["instance"] = json!({"id": "pbx-acme-hq", "name": "Harbor's own Acme"});
    let (status, answer) = app.post_events(Some(&harbor_key), e.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(app.count("northwind").await, northwind_before);
    let harbor = app.tenant("harbor").await;
    let (status, page) = app.get_events(Some(&harbor_key), "?limit=1000").await;
    assert_eq!(status, StatusCode::OK);
    let entries = page["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["tenant_id"] == json!(harbor.id)));

    // A revoked key is refused.
    let key_id = app
        .store
        .api_keys(harbor.id)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    app.store
        .commit(
            harbor.id,
            app::store::Mutation::RevokeApiKey { id: key_id },
            vec![],
        )
        .await
        .unwrap();
    let (status, answer) = app
        .post_events(Some(&harbor_key), event(10).to_string())
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("revoked_api_key"))
    );
}

#[tokio::test]
async fn reads_page_by_seq_with_filters() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["read"]).await;
    let total = app.count("northwind").await;
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = app
            .get_events(Some(&key), &format!("?after_seq={after}&limit=50"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seqs.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        after = page["next_after_seq"].as_i64().unwrap();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        seqs,
        (1..=total as i64).collect::<Vec<_>>(),
        "every seq once, in order"
    );

    let (status, page) = app
        .get_events(Some(&key), "?category=alerts&limit=1000")
        .await;
    assert_eq!(status, StatusCode::OK);
    let alerts = page["entries"].as_array().unwrap();
    assert!(!alerts.is_empty());
    assert!(alerts
        .iter()
        .all(|e| e["event_type"].as_str().unwrap().starts_with("alert.")
            || e["event_type"].as_str().unwrap().starts_with("service.")));
    for (query, param) in [
        ("?limit=0", "limit"),
        ("?after_seq=-1", "after_seq"),
        ("?category=nope", "category"),
        ("?colour=red", "colour"),
    ] {
        let (status, answer) = app.get_events(Some(&key), query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(param),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn secrets_nested_anywhere_never_reach_the_database_file() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let secrets = [
        "hunter2-BEFORE-secret",
        "hunter2-AFTER-secret",
        "meta-TOKEN-9f8e7d",
        "deep-PRIVATE-KEY-material",
    ];
    let e = json!({
        "event_type": "instance.credentials_saved",
        "description": "Saved new SIP credentials",
        "instance": {"id": "pbx-acme-hq"},
        "before": {"sip": {"user": "acme", "Password": secrets[0]}},
        "after": {"sip": {"user": "acme", "Password": secrets[1]}},
        "metadata": {"token": secrets[2], "nested": [{"ssh": {"private_key": secrets[3]}}]}
    });
    let (status, answer) = app.post_events(Some(&key), e.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let bytes = app.db_bytes();
    for s in secrets {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} reached the file"
        );
    }
    let stored = app.entries("northwind").await;
    let entry = stored
        .iter()
        .find(|e| e.description == "Saved new SIP credentials")
        .unwrap();
    let change = entry
        .changes
        .iter()
        .find(|c| c.path == "sip.Password")
        .expect("the masked change stays");
    assert_eq!(
        (change.old.clone(), change.new.clone()),
        (Some(json!("***")), Some(json!("***")))
    );
    assert_eq!(entry.metadata["token"], json!("***"));
}

#[tokio::test]
async fn events_no_person_caused_are_by_system() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let e = json!({
        "event_type": "alert.auto_resolved",
        "description": "Trunk registration recovered on the next poll",
        "instance": {"id": "pbx-birchwood"}
    });
    let (status, answer) = app.post_events(Some(&key), e.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let stored = app.entries("northwind").await;
    let entry = stored
        .iter()
        .find(|e| e.description.starts_with("Trunk registration recovered"))
        .unwrap();
    assert_eq!(
        (entry.actor.kind, entry.actor.label.as_str()),
        (ActorKind::System, "System")
    );
    assert_eq!(entry.instance.as_ref().unwrap().name, "Birchwood Dental");
    // An ordinary event without an actor is attributed to the key.
    let (_, answer) = app
        .post_events(
            Some(&key),
            json!({"event_type": "alert.muted", "description": "Muted disk alert"}).to_string(),
        )
        .await;
    assert_eq!(answer["accepted"], 1);
    let stored = app.entries("northwind").await;
    assert_eq!(stored[0].actor.kind, ActorKind::ApiKey);
    assert_eq!(stored[0].actor.label, "test producer");
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = TestApp::new().await;
    let a = app
        .send(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&a.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/api/v1/events"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/events"]["get"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

#[tokio::test]
async fn a_tenants_own_sensitive_fields_are_masked_and_the_change_is_audited() {
    let app = TestApp::new().await;
    let jane = app.login("jane@northwind.example").await;
    let a = app
        .call(
            Some(&jane),
            "set_sensitive_fields",
            json!({"fields": ["Voicemail_PIN", "bad field!"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = app
        .call(
            Some(&jane),
            "set_sensitive_fields",
            json!({"fields": ["Voicemail_PIN"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let audit = &app.entries("northwind").await[0];
    assert_eq!(
        audit.event_type,
        app::catalog::EventType::TenantSettingsChanged
    );
    assert_eq!(audit.changes[0].new, Some(json!(["voicemail_pin"])));

    let key = app.key("northwind", &["write"]).await;
    let e = json!({
        "event_type": "extension.updated", "description": "Changed the voicemail PIN",
        "before": {"voicemail_pin": "4711-old-pin"}, "after": {"voicemail_pin": "0815-new-pin"}
    });
    let (status, _) = app.post_events(Some(&key), e.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let bytes = app.db_bytes();
    for s in ["4711-old-pin", "0815-new-pin"] {
        assert!(
            !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} reached the file"
        );
    }
}

#[tokio::test]
async fn an_owner_sets_retention_and_the_change_is_audited() {
    let app = TestApp::new().await;
    let jane = app.login("jane@northwind.example").await;
    let a = app
        .call(Some(&jane), "set_retention", json!({"days": 45}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = app
        .call(Some(&jane), "set_retention", json!({"days": 30}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let audit = &app.entries("northwind").await[0];
    assert_eq!(
        audit.event_type,
        app::catalog::EventType::TenantSettingsChanged
    );
    assert_eq!(
        (audit.changes[0].old.clone(), audit.changes[0].new.clone()),
        (Some(json!(365)), Some(json!(30)))
    );
    let a = app
        .call(Some(&jane), "set_retention", json!({"days": null}))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let t = app.tenant("northwind").await;
    assert_eq!(app.store.retention_days(t.id).await.unwrap(), None);
    // A manual purge needs the slug typed back.
    let root = app.login(server::demo::DEMO_SUPER_ADMIN).await;
    let a = app
        .call(
            Some(&root),
            "manual_purge",
            json!({"tenant": "northwind", "older_than_days": 1, "confirm": "yes"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("northwind"), "{}", a.body);
}

#[tokio::test]
async fn idempotency_keys_belong_to_their_producer_and_their_request() {
    let app = TestApp::new().await;
    let pbx = app.key("northwind", &["write"]).await;
    let monitor = app.key("northwind", &["write"]).await;
    let (status, first) = app.post_events(Some(&pbx), event(1).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    // Another producer using the same key is a different event: it is written.
    let mut theirs = event(1);
    theirs["description"] = json!("Monitoring: host down");
    let (status, other) = app.post_events(Some(&monitor), theirs.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{other}");
    assert_eq!(other["accepted"], 1, "{other}");
    assert_ne!(other["results"][0]["seq"], first["results"][0]["seq"]);
    // The same producer retrying the same request replays it…
    let (status, retry) = app.post_events(Some(&pbx), event(1).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retry["results"][0]["status"], "replayed");
    assert_eq!(retry["results"][0]["seq"], first["results"][0]["seq"]);
    // …and reusing the key for a different event is a 409 that writes nothing.
    let before = app.count("northwind").await;
    let mut changed = event(1);
    changed["description"] = json!("Renamed extension 1 differently");
    let batch = json!([event(50), changed]);
    let (status, conflict) = app.post_events(Some(&pbx), batch.to_string()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert!(
        conflict["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sync-1"),
        "{conflict}"
    );
    assert_eq!(app.count("northwind").await, before, "nothing written");
}

#[tokio::test]
async fn what_cannot_be_stored_unchanged_is_refused_or_normalized() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let t = app.tenant("northwind").await;
    // Refused, naming the field; nothing written.
    let before = app.count("northwind").await;
    for (body, status, needle) in [
        (
            r#"{"event_type":"alert.muted","description":"a","description":"b"}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "appears twice",
        ),
        (
            json!({"event_type": "alert.muted", "description": "nul\u{0}here"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NUL",
        ),
        (
            r#"{"event_type":"alert.muted","description":"n","metadata":{"big":9007199254740993}}"#
                .to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "metadata.big",
        ),
        (
            r#"{"event_type":"alert.muted","description":"n","metadata":{"neg":-18446744073709551615}}"#
                .to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "2^53",
        ),
        (
            json!({"event_type": "alert.muted", "description": "old", "occurred_at": "0000-01-01T00:00:00Z"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "before 1970",
        ),
    ] {
        let (s, answer) = app.post_events(Some(&key), body.clone()).await;
        assert_eq!(s, status, "{body}: {answer}");
        assert!(answer.to_string().contains(needle), "{body}: {answer}");
    }
    assert_eq!(app.count("northwind").await, before);
    // Normalized: a leap second, an offset and nanoseconds become the one stored and
    // hashed form, and the log still verifies.
    for (sent, stored) in [
        ("2016-12-31T23:59:60.250Z", "2017-01-01T00:00:00.250Z"),
        (
            "2026-11-20T10:30:00.123456789+05:30",
            "2026-11-20T05:00:00.123Z",
        ),
    ] {
        let body = json!({"event_type": "alert.muted", "description": "t", "occurred_at": sent});
        let (s, answer) = app.post_events(Some(&key), body.to_string()).await;
        assert_eq!(s, StatusCode::OK, "{answer}");
        let e = app.entries("northwind").await.remove(0);
        assert_eq!(app::canonical::format_time(&e.occurred_at), stored);
    }
    let report =
        app::ssr::integrity::verify_log(app.store.as_ref(), t.id, &app.state.trusted_keys())
            .await
            .unwrap();
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn every_entry_says_who_wrote_it_and_producers_cannot_be_stele_users() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write", "read"]).await;
    let (status, answer) = app.post_events(Some(&key), event(7).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let entries = app.entries("northwind").await;
    let written = &entries[0];
    let source = written
        .source
        .clone()
        .expect("a version 2 entry has a source");
    assert_eq!(source.kind, app::entry::SourceKind::ApiKey);
    assert_eq!(source.name, "test producer");
    assert_eq!(written.v, 2);
    // The source is hashed: changing it changes the digest.
    let mut forged = written.clone();
    forged.source = Some(app::entry::Source::stele());
    assert_ne!(
        hex::encode(app::canonical::entry_digest(&forged)),
        written.entry_digest
    );
    // Stele's own entries (the demo's logins, settings…) say Stele.
    assert!(entries
        .iter()
        .filter(|e| *e.category() == app::catalog::Category::Audit
            || e.event_type == app::catalog::EventType::AuthLoginSucceeded)
        .all(|e| e.source.as_ref().map(|s| s.kind) == Some(app::entry::SourceKind::Stele)));
    // Reading by source gives exactly what the key wrote.
    let key_id = source.id.clone().unwrap();
    let (status, page) = app
        .get_events(Some(&key), &format!("?source={key_id}&limit=100"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let seqs: Vec<i64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![written.seq]);

    // A producer naming a real Stele account as its actor is refused.
    let jane = app
        .store
        .user_by_email("jane@northwind.example")
        .await
        .unwrap()
        .unwrap();
    let mut impersonation = event(8);
    impersonation["actor"] =
        json!({"kind": "user", "id": jane.id, "name": "Jane", "email": jane.email});
    let before = app.count("northwind").await;
    let (status, refused) = app.post_events(Some(&key), impersonation.to_string()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("actor.id"), "{refused}");
    assert_eq!(app.count("northwind").await, before);
}

/// The search reaches targets and what changed, never a masked value; the query
/// language's mistakes are the caller's, said plainly, and change nothing.
#[tokio::test]
async fn search_reaches_targets_and_changed_values_but_never_masked_ones() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let e = json!({
        "event_type": "trunk.updated",
        "description": "Saved SIP settings",
        "instance": {"id": "pbx-acme-hq"},
        "target": {"kind": "trunk", "id": "SIP-6", "name": "Carrier uplink"},
        "before": {"sip": {"registrar": "reg-old.example", "Password": "hunter2BEFORE"}},
        "after": {"sip": {"registrar": "reg-new.example", "Password": "hunter2AFTER"}}
    });
    let (status, answer) = app.post_events(Some(&key), e.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let jane = app.login("jane@northwind.example").await;
    let feed = |q: &'static str| {
        let (app, jane) = (&app, &jane);
        async move {
            let a = app
                .call(
                    Some(jane),
                    "tenant_feed",
                    json!({"tenant": "northwind", "filter": {"q": q}}),
                )
                .await;
            (a.status, a.body)
        }
    };
    // The demo's trunks have registrars too: a word they share finds them as well.
    let (status, body) = feed("registrar").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let found = page["entries"].as_array().unwrap();
    assert!(found.len() > 1, "{body}");
    let registrar_hits = found.len() as u64;
    assert!(found
        .iter()
        .any(|e| e["description"] == "Saved SIP settings"));
    for e in found {
        assert!(
            e["changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["path"].as_str().unwrap().contains("registrar")),
            "{e}"
        );
    }
    for q in [
        "reg-new",
        "reg-old.example",
        "carrier uplink",
        "target:trunk/SIP-6 registrar",
        "target:\"carrier uplink\" -action:delete",
    ] {
        let (status, body) = feed(q).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        let found: Vec<&str> = page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["description"].as_str().unwrap())
            .collect();
        assert_eq!(found, ["Saved SIP settings"], "{q}");
    }
    for q in [
        "hunter2BEFORE",
        "hunter2AFTER",
        "hunter2",
        "target:trunk/SIP-6 hunter2",
    ] {
        let (status, body) = feed(q).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            page["entries"],
            json!([]),
            "a masked value was found by {q}"
        );
    }
    let before = app.count("northwind").await;
    for (q, says) in [
        ("acter:jane", "did you mean actor:"),
        ("action:remove", "not an action"),
        ("instance:\"Acme HQ", "never closed"),
        ("after:2026-11-08 before:2026-11-01", "not later"),
    ] {
        for function in ["tenant_feed", "feed_summary"] {
            let a = app
                .call(
                    Some(&jane),
                    function,
                    json!({"tenant": "northwind", "filter": {"q": q}}),
                )
                .await;
            assert_eq!(
                a.status,
                StatusCode::BAD_REQUEST,
                "{function} {q}: {}",
                a.body
            );
            assert!(
                a.body.contains("at character"),
                "{function} {q}: {}",
                a.body
            );
            assert!(a.body.contains(says), "{function} {q}: {}", a.body);
            let lower = a.body.to_lowercase();
            for leak in ["sqlite", "postgres", "syntax", "select", "panicked"] {
                assert!(!lower.contains(leak), "{function} {q}: {}", a.body);
            }
        }
    }
    assert_eq!(
        app.count("northwind").await,
        before,
        "a refused query wrote nothing"
    );
    // The summary counts what the feed lists.
    let a = app
        .call(
            Some(&jane),
            "feed_summary",
            json!({"tenant": "northwind", "filter": {"q": "registrar"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let summary: Value = serde_json::from_str(&a.body).unwrap();
    let total: u64 = summary["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, registrar_hits, "{summary}");
    assert!(
        summary["facets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "instance_id" && f["value"] == "pbx-acme-hq" && f["count"] == 1),
        "{summary}"
    );
}

/// The Actor filter offers the people who acted, the actors producers named and
/// the tenant's API keys, most active first; never another tenant's.
#[tokio::test]
async fn the_actor_choices_hold_people_producers_actors_and_keys() {
    let app = TestApp::new().await;
    let key = app.key("northwind", &["write"]).await;
    let (status, answer) = app
        .post_events(
            Some(&key),
            json!({"events": [event(1), event(2)]}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let jane = app.login("jane@northwind.example").await;
    let a = app
        .call(Some(&jane), "actors", json!({"tenant": "northwind"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let choices: Vec<Value> = serde_json::from_str(&a.body).unwrap();
    let label = |value: &str| {
        choices
            .iter()
            .find(|c| c["value"] == value)
            .map(|c| c["label"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        label("tech-17").as_deref(),
        Some("Ana Lima <ana@northwind.example>"),
        "{choices:?}"
    );
    let keys = app
        .store
        .api_keys(app.tenant("northwind").await.id)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for k in &keys {
        assert_eq!(
            label(&k.id.to_string()),
            Some(format!("{} (API key)", k.name)),
            "{choices:?}"
        );
    }
    let jane_id = app
        .store
        .user_by_email("jane@northwind.example")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    assert!(label(&jane_id).is_some(), "{choices:?}");
    assert!(choices
        .iter()
        .all(|c| c["field"] == "actor" && c["value"] != "system"));
    let counts: Vec<u64> = choices
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "most active first: {counts:?}"
    );
    // Harbor's people are Harbor's.
    let harbor_owner = app
        .store
        .user_by_email("olivia@harbor.example")
        .await
        .unwrap()
        .unwrap();
    assert!(label(&harbor_owner.id.to_string()).is_none());
}
