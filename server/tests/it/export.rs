//! Exports through the real router on a real SQLite file: exactly the rows a feed's
//! filters select, CSV that survives a CSV parser and a spreadsheet, NDJSON that
//! verifies offline, the permission, and the audit entry.

use super::http::TestApp;
use app::api::FeedFilter;
use app::catalog::{Action, EventType};
use app::store::{EntryQuery, Order};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};

pub async fn export(
    app: &TestApp,
    cookie: Option<&str>,
    query: &str,
) -> (StatusCode, String, Option<String>) {
    let mut req = Request::get(format!("/api/v1/events/export?{query}"));
    if let Some(c) = cookie {
        // As the feed's Export link sends it from Stele's own page.
        req = req
            .header(header::COOKIE, c)
            .header("sec-fetch-site", "same-origin");
    }
    let a = app.send(req.body(Body::empty()).unwrap()).await;
    (a.status, a.body, a.content_disposition)
}

/// Every seq the store holds for a filter, oldest first.
async fn seqs(app: &TestApp, slug: &str, filter: FeedFilter) -> Vec<i64> {
    let t = app.tenant(slug).await;
    app.store
        .list(&EntryQuery {
            tenant_id: Some(t.id),
            filter,
            order: Order::OldestFirst,
            limit: 1000,
            ..EntryQuery::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn csv_rows(body: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(body.as_bytes())
        .records()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test]
async fn a_filtered_export_holds_exactly_the_rows_the_feed_shows() {
    let app = TestApp::new().await;
    let jane = app.login("jane@northwind.example").await;
    let expected = seqs(
        &app,
        "northwind",
        FeedFilter {
            action: Some(Action::Delete),
            ..FeedFilter::default()
        },
    )
    .await;
    assert!(!expected.is_empty());
    let (status, body, disposition) = export(&app, Some(&jane), "format=csv&action=delete").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let disposition = disposition.unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"audit-logs-northwind-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let rows = csv_rows(&body);
    let got: Vec<i64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(got, expected);
    assert!(rows.iter().all(|r| &r[7] == "delete"));

    // The export itself is audited, with its filters, format and row count.
    let newest = &app.entries("northwind").await[0];
    assert_eq!(newest.event_type, EventType::AuditExported);
    assert_eq!(newest.metadata["rows"], serde_json::json!(expected.len()));
    assert_eq!(newest.metadata["format"], serde_json::json!("csv"));
    assert_eq!(
        newest.metadata["filters"]["action"],
        serde_json::json!("delete")
    );
    assert!(newest.actor.label.contains("jane@northwind.example"));
}

#[tokio::test]
async fn csv_cells_round_trip_and_formulas_are_neutralized() {
    let app = TestApp::new().await;
    let t = app.tenant("northwind").await;
    let tricky = [
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "commas, \"quotes\" and a\nnew line",
        "+1 555 0100",
        "-cmd",
        "@SUM(A1)",
        "Zürich – 東京 – ✓",
    ];
    let batch = tricky
        .iter()
        .map(|d| app::entry::NewEntry::new(EventType::AlertMuted, app::entry::Actor::system(), *d))
        .collect();
    app.store.append(t.id, batch).await.unwrap();
    let jane = app.login("jane@northwind.example").await;
    let (status, body, _) = export(&app, Some(&jane), "format=csv&event_type=alert.muted").await;
    assert_eq!(status, StatusCode::OK);
    let header = csv::Reader::from_reader(body.as_bytes())
        .headers()
        .unwrap()
        .clone();
    assert_eq!(header.len(), server::export::CSV_COLUMNS.len());
    let descriptions: Vec<String> = csv_rows(&body).iter().map(|r| r[8].to_owned()).collect();
    for d in tricky {
        let expected = if d.starts_with(['=', '+', '-', '@']) {
            format!("'{d}")
        } else {
            d.to_owned()
        };
        assert!(
            descriptions.contains(&expected),
            "{expected:?} not in {descriptions:?}"
        );
    }
}

#[tokio::test]
async fn an_ndjson_export_verifies_offline_against_a_signed_checkpoint() {
    let app = TestApp::new().await;
    let t = app.tenant("northwind").await;
    let cp = super::sign(&app.state, t.id).await;
    let jane = app.login("jane@northwind.example").await;
    let (status, body, disposition) = export(&app, Some(&jane), "format=ndjson").await;
    assert_eq!(status, StatusCode::OK);
    assert!(disposition.unwrap().ends_with(".ndjson\""));
    let report =
        app::verify::verify_export(body.lines(), None, &[app.state.signer.verifying_key()])
            .unwrap();
    assert!(report.entries > cp.tree_size);
    assert!(report.complete && report.signature_checked, "{report:?}");
}

#[tokio::test]
async fn only_admins_owners_and_super_admins_export() {
    let app = TestApp::new().await;
    let priya = app.login("priya@northwind.example").await;
    let olivia = app.login("olivia@harbor.example").await;
    let root = app.login(server::demo::DEMO_SUPER_ADMIN).await;
    let before = app.entries("northwind").await.len();
    assert_eq!(
        export(&app, None, "format=csv").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        export(&app, Some(&priya), "format=csv").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        export(&app, Some(&olivia), "format=csv&tenant=northwind")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.entries("northwind").await.len(),
        before,
        "a refused export writes nothing"
    );
    assert_eq!(
        export(&app, Some(&root), "format=ndjson&tenant=northwind")
            .await
            .0,
        StatusCode::OK
    );
    let jane = app.login("jane@northwind.example").await;
    for bad in [
        "format=xlsx",
        "format=csv&colour=red",
        "format=csv&from=yesterday",
        "format=csv&category=nope",
    ] {
        assert_eq!(
            export(&app, Some(&jane), bad).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_export_started_by_another_site_is_refused_and_writes_nothing() {
    let app = TestApp::new().await;
    let jane = app.login("jane@northwind.example").await;
    let before = app.entries("northwind").await.len();
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("referer", "https://evil.example/page"),
    ] {
        let req = Request::get("/api/v1/events/export?format=csv")
            .header(header::HOST, "stele.test")
            .header(header::COOKIE, &jane)
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let a = app.send(req).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{name}: {value}");
    }
    // Neither header at all: refused too.
    let bare = Request::get("/api/v1/events/export?format=csv")
        .header(header::COOKIE, &jane)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(bare).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.entries("northwind").await.len(),
        before,
        "no audit.exported written"
    );
    // A same-origin referer (a browser without fetch metadata) is fine.
    let own = Request::get("/api/v1/events/export?format=csv")
        .header(header::HOST, "stele.test")
        .header(header::COOKIE, &jane)
        .header("referer", "http://stele.test/audit")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(own).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_searched_export_holds_what_the_feed_shows_and_counts_it() {
    let app = TestApp::new().await;
    let jane = app.login("jane@northwind.example").await;
    let filter = FeedFilter {
        q: Some("extension".into()),
        ..FeedFilter::default()
    };
    let expected = seqs(&app, "northwind", filter).await;
    assert!(!expected.is_empty());
    let (status, body, _) = export(&app, Some(&jane), "format=csv&q=extension").await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<i64> = csv_rows(&body)
        .iter()
        .map(|r| r[2].parse().unwrap())
        .collect();
    assert_eq!(got, expected);
    let audit = app
        .entries("northwind")
        .await
        .into_iter()
        .find(|e| e.event_type == app::catalog::EventType::AuditExported)
        .unwrap();
    assert_eq!(audit.metadata["rows"], serde_json::json!(expected.len()));
}
