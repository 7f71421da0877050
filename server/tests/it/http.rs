//! The HTTP surface through the real router (`oneshot`), on a real SQLite file with
//! the demo tenants and accounts: logins, sessions, and who may call what.

use super::fresh_store;
use app::auth::Role;
use app::catalog::EventType;
use app::entry::Entry;
use app::ssr::secrets::{random_token, token_hash};
use app::ssr::AppState;
use app::store::{EntryQuery, Mutation, Store, UserRecord};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::demo::{self, DemoPlan, DEMO_PASSWORD};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;
use uuid::Uuid;

const HOST: &str = "stele.test";
const ORIGIN: &str = "http://stele.test";

pub struct TestApp {
    pub dir: super::TestDb,
    dist: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub state: AppState,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: String,
    pub set_cookie: Option<String>,
    pub content_disposition: Option<String>,
    pub headers: axum::http::HeaderMap,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl TestApp {
    pub async fn new() -> Self {
        let (dir, store) = fresh_store().await;
        Self::on(dir, store).await
    }

    /// The demo tenants on a store whose clock the test moves.
    pub async fn with_clock(clock: Arc<app::clock::ManualClock>) -> Self {
        let (dir, store) = super::fresh_store_with(clock).await;
        Self::on(dir, store).await
    }

    async fn on(dir: super::TestDb, store: super::TestStore) -> Self {
        let store: Arc<dyn Store> = store.shared();
        let plan = DemoPlan {
            events: 120,
            ..DemoPlan::default()
        };
        assert!(demo::seed_all(store.as_ref(), &plan).await.unwrap());
        assert!(
            !demo::seed_all(store.as_ref(), &plan).await.unwrap(),
            "seeding twice"
        );
        let platform = server::cli::platform_tenant(store.as_ref()).await.unwrap();
        let dist = tempfile::tempdir().unwrap();
        std::fs::write(dist.path().join("index.html"), "<html>stele spa</html>").unwrap();
        let state = AppState {
            store: store.clone(),
            platform_tenant: platform.id,
            secure_cookies: false,
            public_url: ORIGIN.to_owned(),
            signer: Arc::new(ed25519_dalek::SigningKey::from_bytes(&[42u8; 32])),
            previous_keys: Arc::default(),
        };
        TestApp {
            dir,
            dist,
            store,
            state,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 7], 50000))));
        let response = server::http::router(self.state.clone(), self.dist.path())
            .oneshot(req)
            .await
            .unwrap();
        let status = response.status();
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        let content_disposition = response
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            set_cookie,
            content_disposition,
            headers,
        }
    }

    /// Calls a server function as a browser on Stele's own origin would.
    pub async fn call(&self, cookie: Option<&str>, function: &str, args: Value) -> Answer {
        let mut req = Request::post(format!("/api/{function}"))
            .header(header::HOST, HOST)
            .header(header::ORIGIN, ORIGIN)
            .header(header::USER_AGENT, "stele-tests/1.0")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(args.to_string())).unwrap())
            .await
    }

    /// Logs in and returns the `stele_session=…` cookie pair.
    pub async fn login(&self, email: &str) -> String {
        let a = self
            .call(
                None,
                "login",
                json!({"email": email, "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "login {email}: {}", a.body);
        let cookie = a.set_cookie.expect("login sets a cookie");
        cookie.split(';').next().unwrap().to_owned()
    }

    pub async fn tenant(&self, slug: &str) -> app::entry::Tenant {
        self.store.tenant_by_slug(slug).await.unwrap().unwrap()
    }

    /// Every entry of a tenant, newest first.
    pub async fn entries(&self, slug: &str) -> Vec<Entry> {
        let t = self.tenant(slug).await;
        self.store
            .list(&EntryQuery {
                tenant_id: Some(t.id),
                limit: 1000,
                ..EntryQuery::default()
            })
            .await
            .unwrap()
    }

    /// A fresh member of a tenant, to be the target of an administrative call.
    pub async fn member(&self, slug: &str) -> Uuid {
        let t = self.tenant(slug).await;
        let user = UserRecord {
            id: Uuid::now_v7(),
            tenant_id: Some(t.id),
            email: format!("{}@{slug}.example", Uuid::now_v7()),
            name: Some("Target User".into()),
            role: Some(Role::Member),
            super_admin: false,
            password_hash: None,
            removed: false,
        };
        self.store
            .commit(
                t.id,
                Mutation::CreateUser {
                    user: user.clone(),
                    set_password: None,
                },
                vec![],
            )
            .await
            .unwrap();
        user.id
    }

    pub fn db_bytes(&self) -> Vec<u8> {
        super::stored_bytes(&self.dir)
    }
}

const JANE: &str = "jane@northwind.example"; // owner
const MARCO: &str = "marco@northwind.example"; // admin
const PRIYA: &str = "priya@northwind.example"; // member, granted Acme HQ and Birchwood
const TOM: &str = "tom@northwind.example"; // member, granted Cobalt only
const OLIVIA: &str = "olivia@harbor.example"; // owner of the other tenant

#[tokio::test]
async fn the_allow_deny_matrix_over_every_server_function() {
    let app = TestApp::new().await;
    // anonymous, member without the grant, member with it, admin, owner,
    // owner of another tenant, super admin
    let callers = [
        None,
        Some(TOM),
        Some(PRIYA),
        Some(MARCO),
        Some(JANE),
        Some(OLIVIA),
        Some(demo::DEMO_SUPER_ADMIN),
    ];
    let mut cookies = Vec::new();
    for c in callers {
        cookies.push(match c {
            Some(email) => Some(app.login(email).await),
            None => None,
        });
    }
    let northwind = app.tenant("northwind").await;

    #[derive(Clone, Copy)]
    enum Target {
        Nothing,
        Member,
        ApiKey,
        AcmeEntry,
        TenantEntry,
        Token,
    }
    let token = app.store.verification_token(northwind.id).await.unwrap();
    let jane_id = app.store.user_by_email(JANE).await.unwrap().unwrap().id;
    let northwind_entries = app.entries("northwind").await;
    let acme_entry = northwind_entries
        .iter()
        .find(|e| e.instance.as_ref().is_some_and(|i| i.id == "pbx-acme-hq"))
        .unwrap()
        .id;
    let tenant_entry = northwind_entries
        .iter()
        .find(|e| e.instance.is_none())
        .unwrap()
        .id;
    // (function, target to create first, args (TARGET is replaced), expected statuses)
    let rows: Vec<(&str, Target, Value, [u16; 7])> = vec![
        (
            "current_user",
            Target::Nothing,
            json!({}),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "tenant_feed",
            Target::Nothing,
            json!({"tenant": "northwind", "filter": {}}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "instance_feed",
            Target::Nothing,
            json!({"tenant": "northwind", "instance_id": "pbx-acme-hq", "filter": {}}),
            [401, 403, 200, 200, 200, 404, 200],
        ),
        (
            "feed_summary",
            Target::Nothing,
            json!({"tenant": "northwind", "filter": {}}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "feed_summary",
            Target::Nothing,
            json!({"tenant": "northwind", "instance_id": "pbx-acme-hq", "filter": {}}),
            [401, 403, 200, 200, 200, 404, 200],
        ),
        (
            "actors",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "tenants",
            Target::Nothing,
            json!({}),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            "instances",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 200, 200, 200, 200, 404, 200],
        ),
        (
            "master_feed",
            Target::Nothing,
            json!({"filter": {}, "page": 1, "page_size": 50}),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            "users",
            Target::Nothing,
            json!({}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "users",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "api_keys",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "sensitive_fields",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "retention_setting",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "create_user",
            Target::Nothing,
            json!({"email": "NEW", "name": "New Person", "role": "member"}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "change_role",
            Target::Member,
            json!({"user_id": "TARGET", "role": "admin"}),
            [401, 403, 403, 200, 200, 404, 400],
        ),
        (
            "set_grant",
            Target::Member,
            json!({"user_id": "TARGET", "instance_id": "pbx-delta-law", "granted": true}),
            [401, 403, 403, 200, 200, 404, 400],
        ),
        (
            "remove_user",
            Target::Member,
            json!({"user_id": "TARGET"}),
            [401, 403, 403, 200, 200, 404, 400],
        ),
        (
            "api_keys",
            Target::Nothing,
            json!({}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "create_api_key",
            Target::Nothing,
            json!({"name": "sync", "scopes": ["events:write"]}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "revoke_api_key",
            Target::ApiKey,
            json!({"id": "TARGET"}),
            [401, 403, 403, 200, 200, 404, 400],
        ),
        (
            "transfer_api_key",
            Target::ApiKey,
            json!({"id": "TARGET", "to_user": jane_id}),
            [401, 403, 403, 200, 200, 404, 400],
        ),
        (
            "get_entry",
            Target::AcmeEntry,
            json!({"id": "TARGET"}),
            [401, 403, 200, 200, 200, 404, 200],
        ),
        (
            "get_entry",
            Target::TenantEntry,
            json!({"id": "TARGET"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "verify_integrity",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "integrity",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "sign_checkpoint_now",
            Target::Nothing,
            json!({"tenant": "northwind"}),
            [401, 403, 403, 200, 200, 404, 200],
        ),
        (
            "public_verification",
            Target::Token,
            json!({"token": "TARGET"}),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "public_inclusion",
            Target::Token,
            json!({"token": "TARGET", "seq": 1}),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            "public_inclusion",
            Target::Nothing,
            json!({"token": "not-a-token", "seq": 1}),
            [404, 404, 404, 404, 404, 404, 404],
        ),
        (
            "public_verification",
            Target::Nothing,
            json!({"token": "not-a-token"}),
            [404, 404, 404, 404, 404, 404, 404],
        ),
        (
            "retention_setting",
            Target::Nothing,
            json!({}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "set_retention",
            Target::Nothing,
            json!({"days": 90}),
            [401, 403, 403, 403, 200, 200, 400],
        ),
        (
            "manual_purge",
            Target::Nothing,
            json!({"tenant": "northwind", "older_than_days": 3650, "confirm": "northwind"}),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            "sensitive_fields",
            Target::Nothing,
            json!({}),
            [401, 403, 403, 200, 200, 200, 400],
        ),
        (
            "set_sensitive_fields",
            Target::Nothing,
            json!({"fields": ["pin"]}),
            [401, 403, 403, 403, 200, 200, 400],
        ),
        (
            "set_password",
            Target::Nothing,
            json!({"token": "not-a-token", "password": "long enough password"}),
            [400, 400, 400, 400, 400, 400, 400],
        ),
    ];
    for (function, target, args, expected) in rows {
        let mut got = [0u16; 7];
        for (i, cookie) in cookies.iter().enumerate() {
            let target_id = match target {
                Target::Nothing => String::new(),
                Target::Member => app.member("northwind").await.to_string(),
                Target::AcmeEntry => acme_entry.to_string(),
                Target::TenantEntry => tenant_entry.to_string(),
                Target::Token => token.clone(),
                Target::ApiKey => {
                    let (key, _) = app::ssr::admin::issue_api_key(
                        &app.state,
                        northwind.id,
                        "target",
                        &["events:read".into()],
                        None,
                    )
                    .await
                    .unwrap();
                    key.id.to_string()
                }
            };
            let body = args.to_string().replace("TARGET", &target_id).replace(
                "\"NEW\"",
                &format!("\"new{i}-{}@example.com\"", Uuid::now_v7()),
            );
            let a = app
                .call(
                    cookie.as_deref(),
                    function,
                    serde_json::from_str(&body).unwrap(),
                )
                .await;
            got[i] = a.status.as_u16();
            assert!(
                !a.body.to_lowercase().contains("sqlite"),
                "{function}: {}",
                a.body
            );
        }
        assert_eq!(
            got, expected,
            "{function}: anonymous, tom, priya, marco, jane, olivia, super admin"
        );
    }
}

#[tokio::test]
async fn login_is_audited_with_context_and_sets_a_safe_cookie() {
    let app = TestApp::new().await;
    let a = app
        .call(
            None,
            "login",
            json!({"email": PRIYA, "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let cookie = a.set_cookie.clone().unwrap();
    assert!(cookie.starts_with("stele_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "no Secure over plain http");
    let session_id = cookie
        .split(';')
        .next()
        .unwrap()
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(session_id.len(), 64);
    assert_eq!(a.json()["email"], PRIYA);

    let entries = app.entries("northwind").await;
    let login = entries
        .iter()
        .find(|e| e.event_type == EventType::AuthLoginSucceeded)
        .expect("auth.login_succeeded written");
    assert!(login.actor.label.contains(PRIYA));
    assert_eq!(login.context.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(login.context.user_agent.as_deref(), Some("stele-tests/1.0"));
    let session_ref = login.context.session_id.clone().unwrap();
    assert!(session_ref.starts_with("s-"));
    assert!(
        !session_id.contains(&session_ref[2..]),
        "the log must not carry the session id"
    );

    // The session id and the password never reach the database in plain form.
    let bytes = app.db_bytes();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains(&session_id), "session id stored in plain form");
    assert!(!contains(DEMO_PASSWORD), "password stored in plain form");
    assert!(
        contains(&token_hash(&session_id)),
        "the session is stored by its hash"
    );
}

#[tokio::test]
async fn a_failed_login_is_audited_without_the_password_and_then_throttled() {
    let app = TestApp::new().await;
    let wrong = "not-the-right-password-123";
    let a = app
        .call(None, "login", json!({"email": TOM, "password": wrong}))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("wrong email or password"), "{}", a.body);
    assert!(a.set_cookie.is_none());

    let failed: Vec<Entry> = app
        .entries("northwind")
        .await
        .into_iter()
        .filter(|e| {
            e.event_type == EventType::AuthLoginFailed
                && e.metadata.get("attempted_email") == Some(&json!(TOM))
        })
        .filter(|e| e.context.user_agent.as_deref() == Some("stele-tests/1.0"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].context.ip.as_deref(), Some("203.0.113.7"));
    let bytes = app.db_bytes();
    assert!(
        !bytes.windows(wrong.len()).any(|w| w == wrong.as_bytes()),
        "attempted password stored"
    );

    // An unknown email is recorded against the platform tenant.
    let a = app
        .call(
            None,
            "login",
            json!({"email": "ghost@nowhere.example", "password": wrong}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(app
        .entries(server::cli::PLATFORM_SLUG)
        .await
        .iter()
        .any(|e| e.event_type == EventType::AuthLoginFailed
            && e.actor.label == "ghost@nowhere.example"));

    for _ in 0..4 {
        let a = app
            .call(None, "login", json!({"email": TOM, "password": wrong}))
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth attempt is refused before the password is even checked, right or not.
    let a = app
        .call(
            None,
            "login",
            json!({"email": TOM, "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(a.body.contains("try again in"), "{}", a.body);
}

#[tokio::test]
async fn logged_out_expired_and_removed_sessions_are_refused() {
    let app = TestApp::new().await;
    let feed = json!({"filter": {}});

    let cookie = app.login(MARCO).await;
    assert_eq!(
        app.call(Some(&cookie), "tenant_feed", feed.clone())
            .await
            .status,
        StatusCode::OK
    );
    let out = app.call(Some(&cookie), "logout", json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(
        app.call(Some(&cookie), "tenant_feed", feed.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app
        .entries("northwind")
        .await
        .iter()
        .any(|e| e.event_type == EventType::AuthLogout));

    // An expired session.
    let marco = app.store.user_by_email(MARCO).await.unwrap().unwrap();
    let token = random_token();
    let northwind = app.tenant("northwind").await;
    app.store
        .commit(
            northwind.id,
            Mutation::CreateSession {
                id_hash: token_hash(&token),
                user_id: marco.id,
                expires_at: chrono::Utc::now() - chrono::Duration::minutes(1),
            },
            vec![],
        )
        .await
        .unwrap();
    let expired = format!("stele_session={token}");
    assert_eq!(
        app.call(Some(&expired), "tenant_feed", feed.clone())
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // A removed user's live session stops working at once.
    let tom_cookie = app.login(TOM).await;
    let jane = app.login(JANE).await;
    let tom = app.store.user_by_email(TOM).await.unwrap().unwrap();
    let a = app
        .call(Some(&jane), "remove_user", json!({"user_id": tom.id}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = app.call(Some(&tom_cookie), "instances", json!({})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cross_origin_calls_with_a_session_are_refused() {
    let app = TestApp::new().await;
    let cookie = app.login(JANE).await;
    let request = |origin: Option<&str>| {
        let mut r = Request::post("/api/create_api_key")
            .header(header::HOST, HOST)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie.as_str());
        if let Some(o) = origin {
            r = r.header(header::ORIGIN, o);
        }
        r.body(Body::from(
            json!({"name": "evil", "scopes": ["events:read"]}).to_string(),
        ))
        .unwrap()
    };
    let a = app.send(request(Some("https://evil.example"))).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("cross-origin"), "{}", a.body);
    assert_eq!(app.send(request(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.send(request(Some(ORIGIN))).await.status, StatusCode::OK);
    let keys = app.call(Some(&cookie), "api_keys", json!({})).await.json();
    assert_eq!(
        keys.as_array().unwrap().len(),
        1,
        "only the same-origin call created a key"
    );
}

#[tokio::test]
async fn administration_is_audited_with_before_and_after_and_labels_survive_removal() {
    let app = TestApp::new().await;
    let jane = app.login(JANE).await;
    let created = app
        .call(
            Some(&jane),
            "create_user",
            json!({"email": "dana@northwind.example", "name": "Dana Fox", "role": "member"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let created = created.json();
    let link = created["set_password_link"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with("http://stele.test/set-password?token="),
        "{link}"
    );
    let dana: Uuid = serde_json::from_value(created["user"]["id"].clone()).unwrap();

    // The invitee sets a password with the link (once) and logs in.
    let token = link.split("token=").nth(1).unwrap();
    let set = app
        .call(
            None,
            "set_password",
            json!({"token": token, "password": "dana's long password"}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let again = app
        .call(
            None,
            "set_password",
            json!({"token": token, "password": "another long password"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let short = app
        .call(
            None,
            "set_password",
            json!({"token": token, "password": "short"}),
        )
        .await;
    assert!(short.body.contains("at least 12"), "{}", short.body);
    let login = app
        .call(
            None,
            "login",
            json!({"email": "dana@northwind.example", "password": "dana's long password"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);

    let a = app
        .call(
            Some(&jane),
            "change_role",
            json!({"user_id": dana, "role": "admin"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = app
        .call(
            Some(&jane),
            "change_role",
            json!({"user_id": dana, "role": "superuser"}),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "an unknown role is the caller's mistake"
    );
    // An admin may not make anyone owner; nobody changes their own role.
    let marco = app.login(MARCO).await;
    let a = app
        .call(
            Some(&marco),
            "change_role",
            json!({"user_id": dana, "role": "owner"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let jane_id = app.store.user_by_email(JANE).await.unwrap().unwrap().id;
    let a = app
        .call(
            Some(&jane),
            "change_role",
            json!({"user_id": jane_id, "role": "member"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    let a = app
        .call(Some(&jane), "remove_user", json!({"user_id": dana}))
        .await;
    assert_eq!(a.status, StatusCode::OK);

    let entries = app.entries("northwind").await;
    let of = |t: EventType| {
        entries
            .iter()
            .find(|e| e.event_type == t)
            .unwrap_or_else(|| panic!("no {t}"))
    };
    let invited = of(EventType::UserInvited);
    assert_eq!(invited.actor.label, "Jane Doe <jane@northwind.example>");
    assert_eq!(
        invited.target.as_ref().unwrap().name.as_deref(),
        Some("Dana Fox <dana@northwind.example>")
    );
    assert!(invited
        .changes
        .iter()
        .any(|c| c.path == "role" && c.old.is_none() && c.new == Some(json!("member"))));
    let role = of(EventType::UserRoleChanged);
    assert_eq!(role.changes[0].old, Some(json!("member")));
    assert_eq!(role.changes[0].new, Some(json!("admin")));
    let removed = of(EventType::UserRemoved);
    assert!(removed
        .changes
        .iter()
        .any(|c| c.path == "role" && c.old == Some(json!("admin")) && c.new.is_none()));
    // Dana's own entries still carry her snapshotted label after removal.
    let hers = entries
        .iter()
        .find(|e| {
            e.event_type == EventType::AuthLoginSucceeded
                && e.actor.id.as_deref() == Some(&dana.to_string())
        })
        .unwrap();
    assert_eq!(hers.actor.label, "Dana Fox <dana@northwind.example>");
    // Exactly one entry per change: the mutation and its entry commit together.
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event_type == EventType::UserRoleChanged)
            .count(),
        1
    );
}

#[tokio::test]
async fn api_key_secrets_are_shown_once_and_stored_hashed() {
    let app = TestApp::new().await;
    let jane = app.login(JANE).await;
    let a = app
        .call(
            Some(&jane),
            "create_api_key",
            json!({"name": "PBX sync", "scopes": ["events:write", "events:read"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let secret = a.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("stk_") && secret.len() == 68, "{secret}");
    let listed = app.call(Some(&jane), "api_keys", json!({})).await;
    assert!(
        !listed.body.contains(&secret),
        "the list must not show the secret"
    );
    let bytes = app.db_bytes();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let entries = app.entries("northwind").await;
    let created = entries
        .iter()
        .find(|e| e.event_type == EventType::ApiKeyCreated)
        .unwrap();
    assert!(!serde_json::to_string(created).unwrap().contains(&secret));
    let bad = app
        .call(
            Some(&jane),
            "create_api_key",
            json!({"name": "x", "scopes": ["admin"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("unknown scope"), "{}", bad.body);
}

#[tokio::test]
async fn members_see_only_granted_instances_and_deleted_ones_stay_in_the_tenant_feed() {
    let app = TestApp::new().await;
    let priya = app.login(PRIYA).await;
    let list = app.call(Some(&priya), "instances", json!({})).await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["pbx-acme-hq", "pbx-birchwood"]);
    let feed = app
        .call(
            Some(&priya),
            "instance_feed",
            json!({"instance_id": "pbx-birchwood", "filter": {}}),
        )
        .await
        .json();
    let entries = feed["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["instance"]["id"] == "pbx-birchwood"));
    // An instance that does not exist is 404 even for an admin; another tenant's too.
    let marco = app.login(MARCO).await;
    let a = app
        .call(
            Some(&marco),
            "instance_feed",
            json!({"instance_id": "pbx-nope", "filter": {}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = app
        .call(
            Some(&marco),
            "instance_feed",
            json!({"instance_id": "pbx-marina", "filter": {}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // The deleted instance is in the admin's list, marked, and its history in the feed.
    let list = app.call(Some(&marco), "instances", json!({})).await.json();
    let evergreen = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "pbx-evergreen")
        .unwrap()
        .clone();
    assert_eq!(evergreen["deleted"], true);
    let all = app.entries("northwind").await;
    assert!(all.iter().any(|e| e
        .instance
        .as_ref()
        .is_some_and(|i| i.name == "Evergreen Clinic")));
}

#[tokio::test]
async fn healthz_spa_fallback_and_bad_arguments() {
    let app = TestApp::new().await;
    let a = app
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );
    let a = app
        .send(
            Request::get("/audit?category=config")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("stele spa"));

    let marco = app.login(MARCO).await;
    let a = app
        .call(
            Some(&marco),
            "tenant_feed",
            json!({"filter": {"category": "nope"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = app
        .call(
            Some(&marco),
            "tenant_feed",
            json!({"filter": {}, "cursor": 0}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = app
        .call(
            Some(&marco),
            "tenant_feed",
            json!({"filter": {"category": "alerts"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let page = a.json();
    let entries = page["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|e| e["event_type"].as_str().unwrap().starts_with("alert.")
            || e["event_type"] == "service.auto_restarted"));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;
    for path in ["/healthz", "/audit", "/api/v1/public-key"] {
        let a = app
            .send(Request::get(path).body(Body::empty()).unwrap())
            .await;
        let h = |name: &str| {
            a.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval'"),
            "{path}: {csp}"
        );
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("referrer-policy"), "same-origin", "{path}");
        assert_eq!(
            h("strict-transport-security"),
            "",
            "no HSTS over plain http"
        );
    }
}

#[tokio::test]
async fn server_functions_answer_wrong_methods_unknown_names_and_bad_bodies_plainly() {
    let app = TestApp::new().await;
    let a = app
        .send(Request::get("/api/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{}", a.body);
    assert!(serde_json::from_str::<Value>(&a.body).is_ok(), "{}", a.body);
    let a = app.call(None, "no_such_function", json!({})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(serde_json::from_str::<Value>(&a.body).is_ok(), "{}", a.body);

    // Every server function, as an owner, with bodies of the wrong shape: a 4xx
    // (never a 500, never the framework's message) and nothing written.
    let jane = app.login(JANE).await;
    let t = app.tenant("northwind").await;
    let count = || async { app.store.head(t.id).await.unwrap() };
    let long = "x".repeat(100_000);
    let bodies = [
        "not json".to_owned(),
        "[]".to_owned(),
        "{\"tenant\": 123456789012345678901234567890}".to_owned(),
        format!("{{\"email\": \"{long}\", \"password\": 7}}"),
        "{\"filter\": \"nope\", \"days\": -1, \"older_than_days\": 1e400}".to_owned(),
        "{\"fields\": [1, 2, {}], \"scopes\": \"all\", \"role\": {}}".to_owned(),
    ];
    let paths: Vec<String> = server_fn::axum::server_fn_paths()
        .map(|(p, _)| p.to_owned())
        .collect();
    assert!(paths.len() > 20, "{paths:?}");
    for path in &paths {
        if path.ends_with("/logout") {
            continue; // a logout takes no arguments and succeeds on any body
        }
        for body in &bodies {
            let before = count().await;
            let req = Request::post(path.as_str())
                .header(header::HOST, HOST)
                .header(header::ORIGIN, ORIGIN)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, &jane)
                .body(Body::from(body.clone()))
                .unwrap();
            let a = app.send(req).await;
            assert!(
                a.status.is_client_error() || a.status.is_success(),
                "{path} with {}: {} {}",
                &body[..body.len().min(60)],
                a.status,
                a.body
            );
            if a.status.is_client_error() {
                assert!(
                    serde_json::from_str::<Value>(&a.body).is_ok(),
                    "{path}: not JSON: {}",
                    a.body
                );
                assert!(!a.body.contains("server_fn"), "{path}: {}", a.body);
                assert_eq!(count().await, before, "{path} wrote on a refused call");
            }
        }
    }
}

#[tokio::test]
async fn removing_a_person_revokes_their_keys_and_frees_their_address() {
    let app = TestApp::new().await;
    let marco = app.login(MARCO).await;
    let created = app
        .call(
            Some(&marco),
            "create_api_key",
            json!({"name": "Marco's sync", "scopes": ["events:write"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let key_id = created.json()["key"]["id"].as_str().unwrap().to_owned();
    let app = &app;
    let post = |secret: String| async move {
        let req = Request::post("/api/v1/events")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::from(
                json!({"event_type": "alert.muted", "description": "x"}).to_string(),
            ))
            .unwrap();
        app.send(req).await.status
    };
    assert_eq!(post(secret.clone()).await, StatusCode::OK);
    // A second key of Marco's is moved to Jane first: it outlives his removal.
    let kept = app
        .call(
            Some(&marco),
            "create_api_key",
            json!({"name": "Kept sync", "scopes": ["events:write"]}),
        )
        .await;
    let kept_secret = kept.json()["secret"].as_str().unwrap().to_owned();
    let kept_id = kept.json()["key"]["id"].as_str().unwrap().to_owned();

    let jane = app.login(JANE).await;
    let jane_id = app.store.user_by_email(JANE).await.unwrap().unwrap().id;
    let moved = app
        .call(
            Some(&jane),
            "transfer_api_key",
            json!({"id": kept_id, "to_user": jane_id}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let marco_user = app.store.user_by_email(MARCO).await.unwrap().unwrap();
    let removed = app
        .call(
            Some(&jane),
            "remove_user",
            json!({"user_id": marco_user.id}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        post(secret).await,
        StatusCode::UNAUTHORIZED,
        "the key died with the person"
    );
    assert_eq!(
        post(kept_secret).await,
        StatusCode::OK,
        "the moved key lives on"
    );
    let entry = app
        .entries("northwind")
        .await
        .into_iter()
        .find(|e| e.event_type == EventType::UserRemoved)
        .unwrap();
    assert_eq!(entry.metadata["revoked_keys"][0]["id"], json!(key_id));
    // The removed record still reads with its address.
    let users = app.call(Some(&jane), "users", json!({})).await;
    assert!(users.body.contains(MARCO), "{}", users.body);

    // The address can be invited again…
    let again = app
        .call(
            Some(&jane),
            "create_user",
            json!({"email": MARCO, "name": "Marco again", "role": "admin"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    // …and an address used by another tenant is refused without naming it.
    let elsewhere = app
        .call(
            Some(&jane),
            "create_user",
            json!({"email": OLIVIA, "name": "O", "role": "member"}),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::BAD_REQUEST);
    assert!(
        !elsewhere.body.to_lowercase().contains("harbor"),
        "{}",
        elsewhere.body
    );
    assert!(
        elsewhere.body.contains("cannot be invited"),
        "{}",
        elsewhere.body
    );
}

#[tokio::test]
async fn parallel_wrong_passwords_are_checked_at_most_five_times() {
    let app = TestApp::new().await;
    let tries = (0..40).map(|_| {
        app.call(
            None,
            "login",
            json!({"email": JANE, "password": "not the password"}),
        )
    });
    let answers = futures::future::join_all(tries).await;
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, throttled), (5, 35));
    // The owner, from another address, still logs in.
    let mut req = Request::post("/api/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": JANE, "password": DEMO_PASSWORD}).to_string(),
        ))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 20], 40000))));
    let response = server::http::router(app.state.clone(), app.dist.path())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // An over-long email is refused before anything is remembered.
    let long = app
        .call(
            None,
            "login",
            json!({"email": format!("{}@x.example", "a".repeat(3000)), "password": "p"}),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
}
