//! The canonical form of an entry and the hash chain (docs/INTEGRITY.md).
//!
//! `canonical(entry)` is the RFC 8785 (JSON Canonicalization Scheme) serialization of
//! a fixed field set. `entry_digest = SHA-256(canonical(entry))` and, per tenant,
//! `hash_n = SHA-256(hash_{n-1} || entry_digest_n)` with `hash_0` = 32 zero bytes.
//! This module is plain Rust shared with the wasm frontend, so a browser can verify
//! with the very code the server hashes with.

use crate::entry::{Actor, Change, Context, Entry, InstanceRef, Target};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The version of the canonical field set new entries are sealed with, hashed as
/// the field `v`. Version 1: the fields below; version 2 adds `source`. Each entry
/// keeps the version it was sealed with and verifies under it.
pub const CANONICAL_VERSION: u64 = 2;

/// The chain hash before the first entry of a tenant.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Drops sub-millisecond precision: timestamps are hashed and stored in milliseconds.
/// A leap second (`23:59:60.250`, which chrono represents with a nanosecond field
/// past one second) becomes the instant it stands for on a millisecond clock
/// (`00:00:00.250` of the next day), so the hashed time is always the stored one.
pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// `2026-11-22T10:04:05.123Z`: the one timestamp format of the canonical form.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn actor_value(a: &Actor) -> Value {
    json!({ "kind": a.kind.as_str(), "id": a.id, "label": a.label })
}

fn instance_value(i: &Option<InstanceRef>) -> Value {
    i.as_ref()
        .map_or(Value::Null, |i| json!({ "id": i.id, "name": i.name }))
}

fn target_value(t: &Option<Target>) -> Value {
    t.as_ref().map_or(Value::Null, one_target)
}

fn one_target(t: &Target) -> Value {
    json!({ "kind": t.kind, "id": t.id, "name": t.name })
}

fn changes_value(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| json!({ "path": c.path, "old": c.old, "new": c.new }))
            .collect(),
    )
}

fn context_value(c: &Context) -> Value {
    json!({
        "ip": c.ip,
        "user_agent": c.user_agent,
        "session_id": c.session_id,
        "request_id": c.request_id,
    })
}

/// The fixed field set that is hashed. Chain fields (digest, prev_hash, hash),
/// derived fields (category, action) and the producer's idempotency key are not part
/// of it.
pub fn canonical_value(e: &Entry) -> Value {
    let mut v = json!({
        "v": e.v,
        "id": e.id.to_string(),
        "tenant_id": e.tenant_id.to_string(),
        "seq": e.seq,
        "recorded_at": format_time(&e.recorded_at),
        "occurred_at": format_time(&e.occurred_at),
        "event_type": e.event_type.as_str(),
        "description": e.description,
        "actor": actor_value(&e.actor),
        "instance": instance_value(&e.instance),
        "target": target_value(&e.target),
        "changes": changes_value(&e.changes),
        "metadata": Value::Object(e.metadata.clone()),
        "context": context_value(&e.context),
    });
    // Present only when an entry names more than one resource, so entries written
    // before several targets existed keep their digests.
    if !e.other_targets.is_empty() {
        v["other_targets"] = Value::Array(e.other_targets.iter().map(one_target).collect());
    }
    if e.v >= 2 {
        v["source"] = e.source.as_ref().map_or(
            Value::Null,
            |s| json!({ "kind": s.kind.as_str(), "id": s.id, "name": s.name }),
        );
    }
    v
}

/// The canonical bytes of an entry.
pub fn canonical_bytes(e: &Entry) -> Vec<u8> {
    jcs(&canonical_value(e)).into_bytes()
}

/// `SHA-256(canonical(entry))`.
pub fn entry_digest(e: &Entry) -> [u8; 32] {
    Sha256::digest(canonical_bytes(e)).into()
}

/// `SHA-256(prev_hash || entry_digest)`.
pub fn chain_hash(prev_hash: &[u8; 32], entry_digest: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(entry_digest);
    h.finalize().into()
}

/// RFC 8785: object members sorted by the UTF-16 code units of their names, no
/// insignificant whitespace, strings escaped as ECMAScript `JSON.stringify` does,
/// numbers in ECMAScript's shortest round-trip form.
pub fn jcs(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push('{');
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    // JSON numbers are IEEE 754 doubles in RFC 8785; integers beyond 2^53 lose
    // precision exactly as they would in any conforming implementation.
    let f = n.as_f64().unwrap_or(0.0);
    if f == 0.0 {
        out.push('0'); // also for -0
        return;
    }
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format_finite(f));
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("seq {seq}: expected seq {expected} (a gap means deletion)")]
    SeqGap { seq: i64, expected: i64 },
    #[error("seq {seq}: content changed (digest does not match the canonical form)")]
    ContentChanged { seq: i64 },
    #[error("seq {seq}: prev_hash does not link to the previous entry")]
    BrokenLink { seq: i64 },
    #[error("seq {seq}: hash mismatch")]
    HashMismatch { seq: i64 },
    #[error("seq {seq}: malformed hash field")]
    Malformed { seq: i64 },
}

/// Walks a tenant's entries in seq order, recomputing every digest and link.
/// `prev` is the chain hash before the first given entry (GENESIS for seq 1).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev: GENESIS_HASH,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &Entry) -> Result<(), ChainError> {
        let seq = e.seq;
        if seq != self.next_seq {
            return Err(ChainError::SeqGap {
                seq,
                expected: self.next_seq,
            });
        }
        let digest = entry_digest(e);
        if hex::encode(digest) != e.entry_digest {
            return Err(ChainError::ContentChanged { seq });
        }
        let prev = decode32(&e.prev_hash).ok_or(ChainError::Malformed { seq })?;
        if prev != self.prev {
            return Err(ChainError::BrokenLink { seq });
        }
        let hash = chain_hash(&prev, &digest);
        if hex::encode(hash) != e.hash {
            return Err(ChainError::HashMismatch { seq });
        }
        self.prev = hash;
        self.next_seq += 1;
        Ok(())
    }

    /// How many entries verified so far.
    pub fn count(&self) -> i64 {
        self.next_seq - 1
    }

    /// The chain head after the last verified entry.
    pub fn head(&self) -> String {
        hex::encode(self.prev)
    }
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EventType;
    use crate::entry::{Actor, Context, NewEntry};
    use chrono::TimeZone;
    use uuid::Uuid;

    #[test]
    fn jcs_sorts_by_utf16_and_formats_like_ecmascript() {
        let v: Value = serde_json::from_str(
            r#"{"b":[1.0, 0.1, -0.0, 1e21, 1e-7, 123456789012],"a":"x\"\\\n\u0001é€😀","\ue000":1,"😀":2,"A":null,"c":{"z":true,"y":false}}"#,
        )
        .unwrap();
        assert_eq!(
            jcs(&v),
            "{\"A\":null,\"a\":\"x\\\"\\\\\\n\\u0001é€😀\",\"b\":[1,0.1,0,1e+21,1e-7,123456789012],\"c\":{\"y\":false,\"z\":true},\"😀\":2,\"\u{e000}\":1}"
        );
    }

    /// The test vector of docs/INTEGRITY.md, computed independently (Python's
    /// `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` and
    /// `hashlib.sha256`), which agrees with RFC 8785 for this ASCII-keyed input.
    pub(crate) fn vector_entry() -> Entry {
        let new = NewEntry::new(
            EventType::ConfigParameterPushed,
            Actor::user("u-7", Some("Jane Doe"), Some("jane@msp.example")),
            "Pushed parameter \"after_hours\" to Acme HQ",
        )
        .instance("inst-1", "Acme HQ")
        .target("parameter", "after_hours", Some("After-hours rule"))
        .change(
            "after_hours.start",
            Some(json!("18:00")),
            Some(json!("17:30")),
        )
        .meta("parameter", json!("after_hours"))
        .meta("created", json!(false))
        .context(Context {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8.5".into()),
            session_id: None,
            request_id: Some("req-1".into()),
        })
        .occurred_at(Utc.with_ymd_and_hms(2026, 11, 22, 9, 59, 58).unwrap());
        new.seal_as(
            1,
            Uuid::parse_str("01937f3e-8a00-7000-8000-000000000001").unwrap(),
            Uuid::parse_str("01937f3e-0000-7000-8000-00000000000a").unwrap(),
            1,
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
                + chrono::Duration::microseconds(123_456),
            &GENESIS_HASH,
        )
    }

    pub(crate) const VECTOR_CANONICAL: &str = r#"{"actor":{"id":"u-7","kind":"user","label":"Jane Doe <jane@msp.example>"},"changes":[{"new":"17:30","old":"18:00","path":"after_hours.start"}],"context":{"ip":"203.0.113.9","request_id":"req-1","session_id":null,"user_agent":"curl/8.5"},"description":"Pushed parameter \"after_hours\" to Acme HQ","event_type":"config.parameter_pushed","id":"01937f3e-8a00-7000-8000-000000000001","instance":{"id":"inst-1","name":"Acme HQ"},"metadata":{"created":false,"parameter":"after_hours"},"occurred_at":"2026-11-22T09:59:58.000Z","recorded_at":"2026-11-22T10:00:00.123Z","seq":1,"target":{"id":"after_hours","kind":"parameter","name":"After-hours rule"},"tenant_id":"01937f3e-0000-7000-8000-00000000000a","v":1}"#;
    pub(crate) const VECTOR_DIGEST: &str =
        "86b3c899556de2ffa9f75cd48382be5222bfa489f82a2f58022afc824a652590";
    pub(crate) const VECTOR_HASH: &str =
        "8c7aca1179ad2dc74ada430db14d3df5a9f923f57c4e45600f531c9920895736";

    #[test]
    fn the_documented_test_vector_holds() {
        let e = vector_entry();
        assert_eq!(
            String::from_utf8(canonical_bytes(&e)).unwrap(),
            VECTOR_CANONICAL
        );
        assert_eq!(e.entry_digest, VECTOR_DIGEST);
        assert_eq!(e.prev_hash, "0".repeat(64));
        assert_eq!(e.hash, VECTOR_HASH);
    }

    /// Version 2: the same entry, written by the API key `k-1` named "PBX sync".
    #[test]
    fn the_documented_version_2_vector_holds() {
        let v1 = vector_entry();
        let mut e = v1.clone();
        e.v = 2;
        e.source = Some(crate::entry::Source::api_key("k-1", "PBX sync"));
        let canonical = String::from_utf8(canonical_bytes(&e)).unwrap();
        assert_eq!(
            canonical,
            VECTOR_CANONICAL
                .replace(
                    r#""seq":1,"#,
                    r#""seq":1,"source":{"id":"k-1","kind":"api_key","name":"PBX sync"},"#
                )
                .replace(r#""v":1}"#, r#""v":2}"#)
        );
        let digest = hex::encode(entry_digest(&e));
        assert_eq!(digest, VECTOR_V2_DIGEST);
        assert_eq!(
            hex::encode(chain_hash(&GENESIS_HASH, &entry_digest(&e))),
            VECTOR_V2_HASH
        );
        // Version 1 entries keep verifying as version 1.
        assert_eq!(hex::encode(entry_digest(&v1)), VECTOR_DIGEST);
    }

    pub(crate) const VECTOR_V2_DIGEST: &str =
        "e3c6a0b524e9b96202184b7baed0ed14bf94ee70d9ef798e19f19e82ffede744";
    pub(crate) const VECTOR_V2_HASH: &str =
        "3e703e8a082fd0617a41c0c1d9dbf1bbb4e86e3f6d8f25b46dd0937e3760f05c";

    #[test]
    fn the_verifier_catches_each_kind_of_break() {
        let first = vector_entry();
        let mut second_new = NewEntry::new(
            EventType::AlertAutoResolved,
            Actor::system(),
            "Alert auto-resolved",
        );
        second_new.context = Context::default();
        let prev: [u8; 32] = hex::decode(&first.hash).unwrap().try_into().unwrap();
        let second = second_new.seal(Uuid::nil(), first.tenant_id, 2, first.recorded_at, &prev);

        let mut ok = ChainVerifier::default();
        ok.push(&first).unwrap();
        ok.push(&second).unwrap();
        assert_eq!(ok.count(), 2);
        assert_eq!(ok.head(), second.hash);

        let mut tampered = first.clone();
        tampered.description.push('!');
        assert_eq!(
            ChainVerifier::default().push(&tampered),
            Err(ChainError::ContentChanged { seq: 1 })
        );

        let mut v = ChainVerifier::default();
        assert_eq!(
            v.push(&second),
            Err(ChainError::SeqGap {
                seq: 2,
                expected: 1
            })
        );

        let mut relinked = second.clone();
        relinked.prev_hash = "11".repeat(32);
        let mut v = ChainVerifier::default();
        v.push(&first).unwrap();
        assert_eq!(v.push(&relinked), Err(ChainError::BrokenLink { seq: 2 }));

        let mut rehashed = second.clone();
        rehashed.hash = "22".repeat(32);
        let mut v = ChainVerifier::default();
        v.push(&first).unwrap();
        assert_eq!(v.push(&rehashed), Err(ChainError::HashMismatch { seq: 2 }));
    }
}
