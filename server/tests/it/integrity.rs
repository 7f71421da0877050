//! Integrity on a real SQLite file, with the append-only triggers dropped to play the
//! attacker: every kind of tampering is found at the right seq with the right reason.
//! Proofs from the server are checked against a naive Merkle implementation.

use super::{entry, fresh_store, tenant};
use app::checkpoint::Checkpoint;
use app::merkle::{leaf_hash, root_of, verify_consistency, verify_inclusion, Hash};
use app::ssr::integrity::{sign_checkpoint, verify_log};
use app::ssr::AppState;
use app::store::{EntryQuery, Order};
use std::sync::Arc;
use uuid::Uuid;

struct Scene {
    /// The attacker's own connection to the database (triggers out of the way).
    attacker: super::Attacker,
    _dir: super::TestDb,
    store: super::TestStore,
    state: AppState,
    tenant: Uuid,
}

/// 20 entries, a checkpoint of them (its audit entry is seq 21).
async fn scene() -> Scene {
    let (dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    store
        .append(t.id, (1..=20).map(entry).collect())
        .await
        .unwrap();
    let state = super::state_for(store.shared(), t.id, 5);
    let cp = super::sign(&state, t.id).await;
    assert_eq!(cp.tree_size, 20);
    let attacker = dir.attacker().await;
    Scene {
        attacker,
        _dir: dir,
        store,
        state,
        tenant: t.id,
    }
}

impl Scene {
    async fn sql(&self, sql: &str) {
        self.attacker.sql(sql).await;
    }

    async fn verify(&self) -> app::api::VerifyReport {
        verify_log(
            &*self.store,
            self.tenant,
            &[self.state.signer.verifying_key()],
        )
        .await
        .unwrap()
    }

    async fn expect_broken(&self, seq: i64, reason: &str) {
        let report = self.verify().await;
        assert!(!report.ok, "{report:?}");
        assert_eq!(report.broken_seq, Some(seq), "{report:?}");
        let why = report.reason.unwrap_or_default();
        assert!(why.starts_with(reason), "expected `{reason}…`, got `{why}`");
    }

    async fn export(&self) -> Vec<String> {
        self.store
            .list(&EntryQuery {
                tenant_id: Some(self.tenant),
                order: Order::OldestFirst,
                limit: 1000,
                ..EntryQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect()
    }

    async fn checkpoint(&self) -> Checkpoint {
        self.store.checkpoints(self.tenant).await.unwrap().remove(0)
    }
}

#[tokio::test]
async fn an_untouched_log_verifies_with_its_checkpoint() {
    let s = scene().await;
    let report = s.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!((report.entries, report.checkpoints_checked), (21, 1));
    // The chain links and subtrees are append-only too.
    for sql in [
        "UPDATE chain_links SET hash = 'x' WHERE seq = 1",
        "DELETE FROM chain_links WHERE seq = 1",
        "DELETE FROM merkle_nodes WHERE idx = 0",
        "DELETE FROM checkpoints",
    ] {
        assert!(s.store.exec(sql).await.is_err(), "{sql}");
    }
}

#[tokio::test]
async fn a_changed_description_is_found() {
    let s = scene().await;
    s.sql("DROP TRIGGER entries_refuse_update").await;
    s.sql("UPDATE entries SET description = 'nothing to see' WHERE seq = 7")
        .await;
    s.expect_broken(7, "content changed").await;
}

#[tokio::test]
async fn a_deleted_row_is_found() {
    let s = scene().await;
    s.sql("DROP TRIGGER entries_refuse_delete").await;
    s.sql("DELETE FROM entries WHERE seq = 9").await;
    s.expect_broken(9, "entry missing").await;
    // Deleting its chain link as well leaves a gap in the chain.
    s.sql("DROP TRIGGER chain_links_refuse_delete").await;
    s.sql("DELETE FROM chain_links WHERE seq = 9").await;
    s.expect_broken(9, "seq gap").await;
}

#[tokio::test]
async fn two_swapped_rows_are_found() {
    let s = scene().await;
    s.sql("DROP TRIGGER entries_refuse_update").await;
    s.sql("UPDATE entries SET seq = 1000 WHERE seq = 4").await;
    s.sql("UPDATE entries SET seq = 4 WHERE seq = 5").await;
    s.sql("UPDATE entries SET seq = 5 WHERE seq = 1000").await;
    s.expect_broken(4, "content changed").await;
}

#[tokio::test]
async fn truncating_the_newest_rows_is_caught_by_the_signed_checkpoint() {
    let s = scene().await;
    for t in [
        "entries_refuse_delete",
        "chain_links_refuse_delete",
        "merkle_nodes_refuse_delete",
    ] {
        s.sql(&format!("DROP TRIGGER {t}")).await;
    }
    s.sql("DELETE FROM entries WHERE seq > 15").await;
    s.sql("DELETE FROM chain_links WHERE seq > 15").await;
    // A careful attacker also removes the subtrees the missing entries completed.
    s.sql("DELETE FROM merkle_nodes WHERE ((idx + 1) << CAST(level AS INTEGER)) > 15")
        .await;
    // Without the checkpoint the shorter chain would look whole; with it, it cannot.
    s.expect_broken(16, "truncated").await;
}

#[tokio::test]
async fn a_forged_checkpoint_signature_is_found() {
    let s = scene().await;
    let real = s.checkpoint().await;
    let forged_sig = hex::encode([7u8; 64]);
    s.sql(&format!(
        "INSERT INTO checkpoints (tenant_id, tree_size, root_hash, signed_at, key_id, signature) \
         VALUES ('{}', 10, '{}', 1, '{}', '{forged_sig}')",
        s.tenant, real.root_hash, real.key_id
    ))
    .await;
    s.expect_broken(10, "checkpoint signature invalid").await;
}

#[tokio::test]
async fn the_offline_verifier_checks_an_export_against_the_checkpoint() {
    // An export of the first version: plain entry lines from seq 1.
    let s = scene().await;
    let cp = s.checkpoint().await;
    let keys = [s.state.signer.verifying_key()];
    let cps = [cp.clone()];
    let lines = s.export().await;
    let signed = &lines[..20];
    let ok =
        app::verify::verify_export(signed.iter().map(String::as_str), Some(&cps), &keys).unwrap();
    assert_eq!((ok.entries, ok.signature_checked), (20, true));

    // Line 21 (the checkpoint's own audit entry) lies after the signed size: nothing
    // vouches for it, so the verifier refuses it instead of trusting the chain alone.
    let problem = app::verify::verify_export(lines.iter().map(String::as_str), Some(&cps), &keys)
        .unwrap_err();
    assert_eq!((problem.line, problem.seq), (21, 21));
    assert!(
        problem.reason.starts_with("outside the signature"),
        "{problem}"
    );

    let mut changed = signed.to_vec();
    changed[6] = changed[6].replace("Updated extension 7", "Updated extension 8");
    let problem = app::verify::verify_export(changed.iter().map(String::as_str), Some(&cps), &keys)
        .unwrap_err();
    assert_eq!((problem.line, problem.seq), (7, 7));
    assert!(problem.reason.starts_with("content changed"), "{problem}");

    let truncated = &lines[..12];
    let problem =
        app::verify::verify_export(truncated.iter().map(String::as_str), Some(&cps), &keys)
            .unwrap_err();
    assert!(problem.reason.starts_with("truncated"), "{problem}");

    let mut forged = cp.clone();
    forged.tree_size = 12;
    let problem =
        app::verify::verify_export(lines.iter().map(String::as_str), Some(&[forged]), &keys)
            .unwrap_err();
    assert!(problem.reason.contains("forged"), "{problem}");
}

#[tokio::test]
async fn proofs_from_the_server_match_a_naive_tree() {
    let app = super::http::TestApp::new().await;
    let t = app.tenant("northwind").await;
    let token = app.store.verification_token(t.id).await.unwrap();
    let links = app.store.chain_links(t.id, 0, 10_000).await.unwrap();
    let leaves: Vec<Hash> = links
        .iter()
        .map(|l| leaf_hash(&hex::decode(&l.entry_digest).unwrap().try_into().unwrap()))
        .collect();
    let n = leaves.len() as u64;
    let get = |path: String| {
        let app = &app;
        async move {
            let a = app
                .send(
                    axum::http::Request::get(path)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await;
            assert_eq!(a.status, axum::http::StatusCode::OK, "{}", a.body);
            serde_json::from_str::<serde_json::Value>(&a.body).unwrap()
        }
    };
    let hash = |v: &serde_json::Value| -> Hash {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    for (seq, size) in [(1, n), (n, n), (n / 2, n), (3, n / 2 + 1), (7, 7)] {
        let p = get(format!(
            "/api/v1/verify/{token}/inclusion?seq={seq}&tree_size={size}"
        ))
        .await;
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        let naive_root = root_of(&leaves[..size as usize]);
        assert_eq!(hash(&p["root_hash"]), naive_root);
        assert!(verify_inclusion(
            seq - 1,
            size,
            &leaves[seq as usize - 1],
            &proof,
            &naive_root
        ));
    }
    for (first, second) in [(1, n), (n / 3, n), (n - 1, n), (5, 8)] {
        let p = get(format!(
            "/api/v1/verify/{token}/consistency?first={first}&second={second}"
        ))
        .await;
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        let (r1, r2) = (
            root_of(&leaves[..first as usize]),
            root_of(&leaves[..second as usize]),
        );
        assert_eq!((hash(&p["first_root"]), hash(&p["second_root"])), (r1, r2));
        assert!(verify_consistency(first, second, &r1, &r2, &proof));
    }
    // The public page answers by token only.
    let bad = app
        .send(
            axum::http::Request::get("/api/v1/verify/not-a-token")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bad.status, axum::http::StatusCode::NOT_FOUND);
    let key = get("/api/v1/public-key".to_owned()).await;
    assert_eq!(key["public_key"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn stele_verify_exits_zero_on_a_good_export_and_names_the_first_problem() {
    let s = scene().await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.ndjson");
    let checkpoint = dir.path().join("checkpoint.json");
    let key = dir.path().join("public.key");
    let all = s.export().await;
    // The entries the checkpoint covers (an export of the first version).
    let lines = all[..20].to_vec();
    std::fs::write(&export, lines.join("\n")).unwrap();
    std::fs::write(
        &checkpoint,
        serde_json::to_string(&s.checkpoint().await).unwrap(),
    )
    .unwrap();
    std::fs::write(&key, hex::encode(s.state.signer.verifying_key().as_bytes())).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_stele"))
            .arg("verify")
            .arg(&export)
            .arg("--checkpoint")
            .arg(&checkpoint)
            .arg("--public-key")
            .arg(&key)
            .output()
            .unwrap()
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("signatures valid"));

    // A line after the signed size is refused: nothing vouches for it.
    std::fs::write(&export, all.join("\n")).unwrap();
    let tail = run();
    assert!(!tail.status.success());
    let err = String::from_utf8_lossy(&tail.stderr);
    assert!(
        err.contains("line 21 (seq 21): outside the signature"),
        "{err}"
    );

    let mut tampered = lines.clone();
    tampered[2] = tampered[2].replace("Updated extension 3", "Updated extension 4");
    std::fs::write(&export, tampered.join("\n")).unwrap();
    let bad = run();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 3 (seq 3): content changed"), "{err}");
}

#[tokio::test]
async fn after_a_retention_purge_the_chain_still_verifies_and_says_what_was_purged() {
    let s = scene().await;
    let all = s.export().await;
    let checkpoint_entry: app::entry::Entry = serde_json::from_str(&all[20]).unwrap();
    // Entries 1–20 were recorded before the checkpoint's own entry (seq 21).
    let range = app::ssr::retention::purge_tenant(
        &s.state,
        s.tenant,
        checkpoint_entry.recorded_at,
        app::entry::Actor::system(),
        Default::default(),
        "test",
    )
    .await
    .unwrap();
    assert_eq!(range, Some((1, 20)));
    let left = s.export().await;
    assert_eq!(left.len(), 2, "seq 21 and the audit.purged entry remain");
    let purged: app::entry::Entry = serde_json::from_str(&left[1]).unwrap();
    assert_eq!(purged.event_type, app::catalog::EventType::AuditPurged);
    assert_eq!(purged.actor.label, "System");
    assert_eq!(
        (
            purged.metadata["from_seq"].as_i64(),
            purged.metadata["to_seq"].as_i64(),
            purged.metadata["count"].as_i64()
        ),
        (Some(1), Some(20), Some(20))
    );
    let report = s.verify().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(
        (report.entries, report.purged, report.purged_ranges.clone()),
        (22, 20, vec![(1, 20)])
    );
    assert_eq!(
        report.checkpoints_checked, 1,
        "the checkpoint of 20 still matches the links"
    );
    // Tampering after a purge is still found.
    s.sql("DROP TRIGGER entries_refuse_update").await;
    s.sql("UPDATE entries SET description = 'x' WHERE seq = 21")
        .await;
    s.expect_broken(21, "content changed").await;
}

#[tokio::test]
async fn a_deleted_checkpoint_row_is_caught_by_the_logs_own_record_of_it() {
    let s = scene().await;
    s.sql("DROP TRIGGER checkpoints_refuse_delete").await;
    s.sql("DELETE FROM checkpoints").await;
    // Entry 21 says a checkpoint of 20 entries was signed; the table no longer has it.
    s.expect_broken(
        21,
        "checkpoint missing: entry 21 records a signed checkpoint of 20 entries",
    )
    .await;
}

#[tokio::test]
async fn a_rewritten_and_rechained_log_without_its_checkpoint_rows_is_caught() {
    let s = scene().await;
    for t in [
        "entries_refuse_update",
        "chain_links_refuse_update",
        "merkle_nodes_refuse_delete",
        "checkpoints_refuse_delete",
    ] {
        s.sql(&format!("DROP TRIGGER {t}")).await;
    }
    // The attacker rewrites entry 5, re-chains everything after it, rebuilds every
    // Merkle subtree from the new digests and deletes the checkpoint that signed the
    // old root: the log is consistent with itself, except for entry 21, which
    // records the signed root of the original first 20 entries.
    let mut entries: Vec<app::entry::Entry> = s
        .export()
        .await
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    entries[4].description = "Updated extension 5 (nothing to see)".into();
    let mut prev = app::canonical::GENESIS_HASH;
    let mut frontier = app::merkle::Frontier::default();
    let mut nodes = Vec::new();
    for e in &mut entries {
        let digest = app::canonical::entry_digest(e);
        let hash = app::canonical::chain_hash(&prev, &digest);
        e.entry_digest = hex::encode(digest);
        e.prev_hash = hex::encode(prev);
        e.hash = hex::encode(hash);
        prev = hash;
        nodes.extend(frontier.push(leaf_hash(&digest)));
        s.sql(&format!(
            "UPDATE entries SET description = '{}' WHERE seq = {}",
            e.description.replace('\'', "''"),
            e.seq
        ))
        .await;
        s.sql(&format!(
            "UPDATE chain_links SET entry_digest = x'{}', hash = x'{}' WHERE seq = {}",
            e.entry_digest, e.hash, e.seq
        ))
        .await;
    }
    s.sql("DELETE FROM merkle_nodes").await;
    for (level, idx, hash) in nodes.into_iter().filter(|n| app::merkle::is_stored(n.0)) {
        s.sql(&format!(
            "INSERT INTO merkle_nodes (tenant_id, level, idx, hash) VALUES ('{}', {level}, {idx}, x'{}')",
            s.tenant,
            hex::encode(hash)
        ))
        .await;
    }
    s.sql("DELETE FROM checkpoints").await;
    s.expect_broken(
        20,
        "checkpoint mismatch: the checkpoint of 20 entries recorded by entry 21",
    )
    .await;
}

#[tokio::test]
async fn a_corrupted_merkle_node_is_caught_and_never_signed() {
    let s = scene().await;
    s.sql("DROP TRIGGER merkle_nodes_refuse_update").await;
    // The subtree of seq 1–16, the lowest level stored (below it, subtrees are
    // recomputed from the chain links, whose tampering the chain itself shows).
    s.sql("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0")
        .await;
    s.expect_broken(16, "merkle node corrupted: the stored subtree of seq 1–16")
        .await;
    // A root of the signed prefix that the stored peak no longer gives: refused.
    let refused = sign_checkpoint(
        &s.state,
        s.tenant,
        app::entry::Actor::system(),
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(refused, app::api::AppError::Conflict(_)),
        "{refused:?}"
    );
    assert_eq!(
        s.store.checkpoints(s.tenant).await.unwrap().len(),
        1,
        "nothing signed"
    );
}

#[tokio::test]
async fn without_a_checkpoint_signing_recomputes_everything_and_refuses_a_bad_node() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    store
        .append(t.id, (1..=40).map(entry).collect())
        .await
        .unwrap();
    let attacker = _dir.attacker().await;
    attacker
        .sql("DROP TRIGGER merkle_nodes_refuse_update")
        .await;
    attacker
        .sql("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 1")
        .await;
    let store = store.shared();
    let state = super::state_for(store.clone(), t.id, 5);
    let refused = sign_checkpoint(
        &state,
        t.id,
        app::entry::Actor::system(),
        Default::default(),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("seq 17–32"), "{refused}");
    assert!(store.checkpoints(t.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn concurrent_signing_never_fails() {
    let s = scene().await;
    s.store.append(s.tenant, vec![entry(99)]).await.unwrap();
    let signs = (0..8).map(|_| {
        app::ssr::integrity::sign_or_reuse(
            &s.state,
            s.tenant,
            app::entry::Actor::system(),
            Default::default(),
        )
    });
    let signed: Vec<_> = futures::future::join_all(signs)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // One signed; the others got that fresh checkpoint.
    assert!(signed.iter().all(|c| *c == signed[0]), "{signed:?}");
    assert_eq!(signed[0].tree_size, 22);
    assert_eq!(s.store.checkpoints(s.tenant).await.unwrap().len(), 2);
    let report = s.verify().await;
    assert!(report.ok, "{report:?}");
}

#[tokio::test]
async fn the_c2sp_checkpoint_verifies_with_an_independent_implementation() {
    use signed_note::{Note, StandardVerifier, VerifierList};
    let s = scene().await;
    let cp = s.checkpoint().await;
    let note = cp
        .note
        .clone()
        .expect("every new checkpoint carries a signed note");
    let public = s.state.signer.verifying_key();
    let origin = app::checkpoint::note_origin(s.tenant);
    // The verifier key (and so the key id) agrees with the crate's own derivation.
    let vkey = app::checkpoint::note_verifier_key(&origin, &public);
    assert_eq!(
        vkey,
        signed_note::new_ed25519_verifier_key(&origin, &public)
    );
    let verifier = StandardVerifier::new(&vkey).unwrap();
    let known = VerifierList::new(vec![Box::new(verifier)]);
    let parsed = Note::from_bytes(note.as_bytes()).unwrap();
    let (verified, _) = parsed.verify(&known).unwrap();
    assert_eq!(verified.len(), 1);
    // The text is a C2SP tlog-checkpoint: origin, size, base64 root.
    let text = String::from_utf8(parsed.text().to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    use base64::Engine;
    assert_eq!(lines[0], origin);
    assert_eq!(lines[1], "20");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(lines[2])
            .unwrap(),
        hex::decode(&cp.root_hash).unwrap()
    );
    // Any change to the text fails the independent verifier.
    let forged = note.replacen("\n20\n", "\n21\n", 1);
    assert!(Note::from_bytes(forged.as_bytes())
        .unwrap()
        .verify(&known)
        .is_err());
}

#[tokio::test]
async fn after_a_key_rotation_old_checkpoints_verify_by_their_key_id() {
    let s = scene().await;
    let old_key = s.state.signer.verifying_key();
    let rotated = AppState {
        signer: Arc::new(ed25519_dalek::SigningKey::from_bytes(&[6u8; 32])),
        previous_keys: Arc::new(vec![old_key]),
        ..s.state.clone()
    };
    super::sign(&rotated, s.tenant).await;
    let report = verify_log(&*s.store, s.tenant, &rotated.trusted_keys())
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.checkpoints_checked, 2);
    // Without the old public key, its checkpoint cannot be vouched for.
    let new_only = [rotated.signer.verifying_key()];
    let report = verify_log(&*s.store, s.tenant, &new_only).await.unwrap();
    assert!(!report.ok);
    assert!(
        report.reason.unwrap().contains("signed by key"),
        "the report names the unknown key"
    );
}

#[tokio::test]
async fn an_idle_tenant_is_signed_once_and_not_again_every_round() {
    let (_dir, store) = fresh_store().await;
    let t = tenant(&*store, "acme").await;
    store
        .append(t.id, (1..=3).map(entry).collect())
        .await
        .unwrap();
    let state = super::state_for(store.shared(), t.id, 5);
    let round = app::ssr::integrity::sign_changed(&state).await.unwrap();
    assert!(round.done.contains(&t.id), "{round:?}");
    let head = store.head(t.id).await.unwrap();
    for _ in 0..3 {
        let round = app::ssr::integrity::sign_changed(&state).await.unwrap();
        assert!(round.done.is_empty(), "{round:?}");
    }
    assert_eq!(
        store.head(t.id).await.unwrap(),
        head,
        "idle rounds write nothing"
    );
    // Something new happens: the next round signs it.
    store.append(t.id, vec![entry(4)]).await.unwrap();
    let round = app::ssr::integrity::sign_changed(&state).await.unwrap();
    assert!(round.done.contains(&t.id), "{round:?}");
}
