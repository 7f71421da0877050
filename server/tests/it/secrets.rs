//! Secrets never reach the database, its WAL or the server's log: the real `stele`
//! binary, on a real data directory, is sent secrets under every spelling and shape
//! in the table, then the raw bytes of the files and of its log are searched.

use super::{http, stele};

const SPELLINGS: &[&str] = &[
    "password",
    "Password",
    "passwd",
    "pwd",
    "sshPassword",
    "SSH-Password",
    "ssh.password",
    "privateKey",
    "private_key",
    "Private-Key",
    "PRIVATE_KEY",
    "apiKey",
    "api_key",
    "API-KEY",
    "x-api-key",
    "APIKey",
    "accessToken",
    "access_token",
    "refresh_token",
    "client_secret",
    "clientSecret",
    "sip_password",
    "sipPassword",
    "credentials",
    "snmp_community",
    "snmpCommunity",
    "two_fa_secret",
    "mfaSecret",
    "totpSeed",
    "recovery_codes",
    "sessionId",
    "session_id",
    "cookie",
    "authorization",
    "jwt",
    "db_pass",
    "wifi_psk",
    "webhookSecret",
    "signingKey",
    "encryption_key",
    "passphrase",
    "token",
];

#[test]
fn planted_secrets_reach_neither_the_files_nor_the_log() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = runtime.block_on(super::TestDb::new());
    stele(
        &dir,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
    );
    let key = super::api_key(&dir, "acme");
    let log_path = dir.path().join("server.log");
    let (mut server, addr) = super::serve(&dir, "0", &log_path, "debug");
    let auth = format!("Bearer {key}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for (i, spelling) in SPELLINGS.iter().enumerate() {
        let event = serde_json::json!({
            "event_type": "config.parameter_pushed",
            "description": format!("visiblemarker {i}"),
            "instance": {"id": "pbx-1", "name": "Acme HQ"},
            "metadata": {
                "parameter": spelling,
                "value": format!("plantedvalue{i}x"),
                "previous_value": format!("plantedprevious{i}x"),
                "nested": {spelling.to_string(): format!("plantednested{i}x")},
                "pairs": [{"name": spelling, "value": format!("plantedpair{i}x")}],
            },
            "context": {"session_id": format!("plantedsession{i}x")},
        });
        let (status, body) = http(
            &addr,
            "POST",
            "/api/v1/events",
            &headers,
            &event.to_string(),
        );
        assert_eq!(status, 200, "{spelling}: {body}");
        let change = serde_json::json!({
            "event_type": "extension.updated",
            "description": format!("visiblemarker change {i}"),
            "instance": {"id": "pbx-1"},
            "before": {"sip": {spelling.to_string(): format!("plantedbefore{i}x")}},
            "after": {"sip": {spelling.to_string(): format!("plantedafter{i}x")}},
        });
        let (status, body) = http(
            &addr,
            "POST",
            "/api/v1/events",
            &headers,
            &change.to_string(),
        );
        assert_eq!(status, 200, "{spelling}: {body}");
    }
    // A password typed into the email field of the login form.
    let origin = format!("http://{addr}");
    let (status, _) = http(
        &addr,
        "POST",
        "/api/login",
        &[
            ("Origin", origin.as_str()),
            ("Content-Type", "application/json"),
        ],
        r#"{"email": "Plantedtypedpw!9", "password": "whatever"}"#,
    );
    assert_eq!(status, 401);
    let _ = server.kill();
    let _ = server.wait();

    let bytes = super::stored_bytes(&dir);
    let log = std::fs::read(&log_path).unwrap();
    let find = |hay: &[u8], needle: &str| {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    };
    // The test can fail: what is not secret is there.
    assert!(find(&bytes, "visiblemarker"), "the events were stored");
    for (what, hay) in [("database and WAL", &bytes), ("server log", &log)] {
        assert!(!find(hay, "planted"), "a planted secret is in the {what}");
    }
}
