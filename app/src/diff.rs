//! Before-and-after diffs and redaction (SPEC "The record").
//!
//! [`diff`] turns a before and an after value into `changes` by path: nested objects
//! by key (`sip.codec`), arrays by element `id` where every element has one
//! (`extensions[id=101].name`), else by index (`codecs[1]`).
//!
//! [`Redactor`] masks sensitive fields as `***` at any depth, case-insensitively, in
//! changes and metadata — for Stele's own entries and for
//! producers' alike: every store backend applies the tenant's redactor to each entry
//! inside the append transaction, just before sealing it.
//! A masked change keeps its place in `changes`, so the log still says the field
//! changed.

use crate::entry::{Change, NewEntry};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// What a masked value reads as.
pub const MASK: &str = "***";

/// Field names masked in every tenant (SPEC "The record"); a tenant can add more.
pub const DEFAULT_SENSITIVE: &[&str] = &[
    "password",
    "password_hash",
    "two_fa_secret",
    "mfa_secret",
    "token",
    "token_hash",
    "key_hash",
    "api_key",
    "secret",
    "snmp_community",
    "ssh_password",
    "private_key",
];

/// The changes that turn `before` into `after`, by path. Equal values give none.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk("", Some(before), Some(after), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, va) in a {
                walk(&join(path, key), Some(va), b.get(key), out);
            }
            for (key, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                walk(&join(path, key), None, Some(vb), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => match (ids(a), ids(b)) {
            (Some(ia), Some(ib)) => {
                for (id, va) in ia.iter().zip(a) {
                    let other = ib.iter().position(|x| x == id).map(|i| &b[i]);
                    walk(&format!("{path}[id={id}]"), Some(va), other, out);
                }
                for (id, vb) in ib.iter().zip(b).filter(|(id, _)| !ia.contains(id)) {
                    walk(&format!("{path}[id={id}]"), None, Some(vb), out);
                }
            }
            _ => {
                for i in 0..a.len().max(b.len()) {
                    walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
                }
            }
        },
        (Some(Value::Null) | None, Some(Value::Null) | None) => {}
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path: if path.is_empty() {
                "(value)".to_owned()
            } else {
                path.to_owned()
            },
            old: a.filter(|v| !v.is_null()).cloned(),
            new: b.filter(|v| !v.is_null()).cloned(),
        }),
    }
}

/// The element ids of an array whose elements are all objects with a distinct
/// string or number `id`; `None` otherwise (it is then diffed by index).
fn ids(items: &[Value]) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    items
        .iter()
        .map(|item| {
            let id = match item.get("id")? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            seen.insert(id.clone()).then_some(id)
        })
        .collect()
}

/// The field names of a path: `a.b[id=7].c[2]` gives `a`, `b`, `c`.
fn path_keys(path: &str) -> impl Iterator<Item = &str> {
    path.split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
}

/// Masks sensitive fields. Built per tenant: the default list plus its additions.
#[derive(Debug, Clone)]
pub struct Redactor {
    keys: HashSet<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[])
    }
}

impl Redactor {
    pub fn new(extra: &[String]) -> Self {
        let keys = DEFAULT_SENSITIVE
            .iter()
            .map(|k| (*k).to_owned())
            .chain(extra.iter().map(|k| k.trim().to_lowercase()))
            .filter(|k| !k.is_empty())
            .collect();
        Redactor { keys }
    }

    pub fn is_sensitive(&self, key: &str) -> bool {
        self.keys.contains(&key.to_lowercase())
    }

    /// Masks every sensitive key's value inside `value`, at any depth.
    pub fn mask_value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => self.mask_map(map),
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_value(v)),
            _ => {}
        }
    }

    pub fn mask_map(&self, map: &mut Map<String, Value>) {
        for (key, value) in map.iter_mut() {
            if self.is_sensitive(key) {
                if !value.is_null() {
                    *value = Value::String(MASK.to_owned());
                }
            } else {
                self.mask_value(value);
            }
        }
    }

    /// A change to a sensitive field keeps its path and loses its values; any other
    /// change has the sensitive fields inside its values masked.
    pub fn mask_change(&self, change: &mut Change) {
        if path_keys(&change.path).any(|k| self.is_sensitive(k)) {
            for side in [&mut change.old, &mut change.new] {
                if side.is_some() {
                    *side = Some(Value::String(MASK.to_owned()));
                }
            }
        } else {
            for value in [&mut change.old, &mut change.new].into_iter().flatten() {
                self.mask_value(value);
            }
        }
    }

    /// Masks an entry before it is sealed: its changes and its metadata.
    pub fn apply(&self, entry: &mut NewEntry) {
        entry.changes.iter_mut().for_each(|c| self.mask_change(c));
        self.mask_map(&mut entry.metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::EventType;
    use crate::entry::Actor;
    use serde_json::json;

    fn paths(changes: &[Change]) -> Vec<(&str, Option<&Value>, Option<&Value>)> {
        changes
            .iter()
            .map(|c| (c.path.as_str(), c.old.as_ref(), c.new.as_ref()))
            .collect()
    }

    #[test]
    fn nested_objects_diff_by_path() {
        let before =
            json!({"name": "Reception", "sip": {"codec": "PCMU", "port": 5060}, "gone": 1});
        let after =
            json!({"name": "Front Desk", "sip": {"codec": "OPUS", "port": 5060}, "added": true});
        let changes = diff(&before, &after);
        assert_eq!(
            paths(&changes),
            vec![
                ("gone", Some(&json!(1)), None),
                (
                    "name",
                    Some(&json!("Reception")),
                    Some(&json!("Front Desk"))
                ),
                ("sip.codec", Some(&json!("PCMU")), Some(&json!("OPUS"))),
                ("added", None, Some(&json!(true))),
            ]
        );
        assert!(diff(&before, &before).is_empty());
    }

    #[test]
    fn arrays_match_elements_by_id_else_by_index() {
        let before =
            json!({"extensions": [{"id": 101, "name": "Ann"}, {"id": 102, "name": "Bob"}]});
        let after =
            json!({"extensions": [{"id": 102, "name": "Bobby"}, {"id": 103, "name": "Cy"}]});
        assert_eq!(
            paths(&diff(&before, &after)),
            vec![
                (
                    "extensions[id=101]",
                    Some(&json!({"id": 101, "name": "Ann"})),
                    None
                ),
                (
                    "extensions[id=102].name",
                    Some(&json!("Bob")),
                    Some(&json!("Bobby"))
                ),
                (
                    "extensions[id=103]",
                    None,
                    Some(&json!({"id": 103, "name": "Cy"}))
                ),
            ]
        );
        let by_index = diff(
            &json!({"codecs": ["PCMU", "G722"]}),
            &json!({"codecs": ["OPUS"]}),
        );
        assert_eq!(
            paths(&by_index),
            vec![
                ("codecs[0]", Some(&json!("PCMU")), Some(&json!("OPUS"))),
                ("codecs[1]", Some(&json!("G722")), None),
            ]
        );
        // Duplicate ids cannot be matched by id: by index instead.
        let dup = diff(&json!([{"id": 1}, {"id": 1}]), &json!([{"id": 1}]));
        assert_eq!(paths(&dup), vec![("[1]", Some(&json!({"id": 1})), None)]);
    }

    #[test]
    fn sensitive_fields_are_masked_at_any_depth_case_insensitively() {
        let r = Redactor::new(&["PIN".to_owned()]);
        let mut entry = NewEntry::new(EventType::ExtensionUpdated, Actor::system(), "x")
            .meta(
                "sip",
                json!({"Password": "hunter2", "user": "101", "deep": [{"api_key": "k"}]}),
            )
            .meta("pin", json!("1234"));
        entry.changes = diff(
            &json!({"voicemail": {"pin": "1111"}, "name": "A", "cfg": {"SSH_Password": "a"}}),
            &json!({"voicemail": {"pin": "2222"}, "name": "B", "cfg": {"SSH_Password": "b"}}),
        );
        entry.changes.push(Change {
            path: "credentials".to_owned(),
            old: None,
            new: Some(json!({"token": "t0k", "host": "h"})),
        });
        r.apply(&mut entry);
        let text = serde_json::to_string(&(&entry.changes, &entry.metadata)).unwrap();
        for secret in [
            "hunter2", "1234", "1111", "2222", "t0k", "\"k\"", "\"a\"", "\"b\"",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(entry.metadata["sip"]["user"], json!("101"));
        assert_eq!(entry.metadata["sip"]["Password"], json!(MASK));
        // A masked change still says that the field changed.
        let pin = entry
            .changes
            .iter()
            .find(|c| c.path == "voicemail.pin")
            .unwrap();
        assert_eq!(
            (pin.old.clone(), pin.new.clone()),
            (Some(json!(MASK)), Some(json!(MASK)))
        );
        let name = entry.changes.iter().find(|c| c.path == "name").unwrap();
        assert_eq!(name.new, Some(json!("B")));
        let creds = entry
            .changes
            .iter()
            .find(|c| c.path == "credentials")
            .unwrap();
        assert_eq!(creds.new, Some(json!({"token": MASK, "host": "h"})));
        assert!(!Redactor::default().is_sensitive("pin"));
    }
}
