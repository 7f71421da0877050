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
        (Some(Value::Array(a)), Some(Value::Array(b))) => match element_keys(a, b) {
            Some((field, ia, ib)) => {
                for (id, va) in ia.iter().zip(a) {
                    let other = ib.iter().position(|x| x == id).map(|i| &b[i]);
                    walk(&format!("{path}[{field}={id}]"), Some(va), other, out);
                }
                for (id, vb) in ib.iter().zip(b).filter(|(id, _)| !ia.contains(id)) {
                    walk(&format!("{path}[{field}={id}]"), None, Some(vb), out);
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

/// How two arrays' elements are matched: by the first of `id`, `name`, `key` that
/// every element of both has, distinct, as a string or number (so a list of
/// name/value pairs diffs as `params[name=sip_password].value`); `None` means by
/// index.
fn element_keys(a: &[Value], b: &[Value]) -> Option<(&'static str, Vec<String>, Vec<String>)> {
    ["id", "name", "key"]
        .into_iter()
        .find_map(|field| Some((field, ids(a, field)?, ids(b, field)?)))
}

/// The distinct string or number `field` of every element; `None` otherwise.
fn ids(items: &[Value], field: &str) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    items
        .iter()
        .map(|item| {
            let id = match item.get(field)? {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            seen.insert(id.clone()).then_some(id)
        })
        .collect()
}

/// The names in a path that say what a value is: field names, and the names of
/// name/value elements: `a.b[name=sip_password].c[2]` gives `a`, `b`,
/// `sip_password`, `c` (ids and indexes are not names).
fn path_keys(path: &str) -> impl Iterator<Item = &str> {
    path.split('.').flat_map(|segment| {
        let mut parts = segment.split('[');
        let field = parts.next().into_iter();
        let named = parts.filter_map(|p| {
            let p = p.trim_end_matches(']');
            p.strip_prefix("name=").or_else(|| p.strip_prefix("key="))
        });
        field.chain(named)
    })
}

/// Terms that make a key sensitive wherever they appear in it, once the key is
/// reduced to lowercase letters and digits (`Private-Key`, `privateKey` and
/// `private_key` all read `privatekey`).
pub const SENSITIVE_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "credential",
    "privatekey",
    "apikey",
    "accesskey",
    "signingkey",
    "encryptionkey",
    "keyhash",
    "authorization",
    "cookie",
    "sessionid",
    "sessid",
    "recoverycode",
    "backupcode",
    "twofactor",
    "community",
];

/// Short terms that make a key sensitive only as a whole word of it
/// (`sip_pwd`, `totpSeed`), so `footprint` is not mistaken for `otp`.
pub const SENSITIVE_WORDS: &[&str] = &[
    "pwd", "otp", "totp", "hotp", "mfa", "2fa", "jwt", "bearer", "psk", "pass",
];

/// Members of a name/value object that hold the value of the thing it names.
const VALUE_MEMBERS: &[&str] = &[
    "value",
    "values",
    "previous_value",
    "old_value",
    "new_value",
    "current_value",
    "default_value",
    "default",
];

/// Members of an object that name what the object's value is.
const NAME_MEMBERS: &[&str] = &[
    "name",
    "key",
    "parameter",
    "param",
    "field",
    "setting",
    "variable",
    "attribute",
    "property",
];

/// A key's words: split at anything not a letter or digit and at camelCase
/// boundaries (`APIKey` → `api`, `key`), lowercased.
pub fn key_words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && !word.is_empty()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if boundary {
            words.push(std::mem::take(&mut word));
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Masks sensitive fields. Built per tenant: the built-in terms plus its additions,
/// matched against the key's spelling-free form ([`key_words`]).
#[derive(Debug, Clone)]
pub struct Redactor {
    /// Matched anywhere in the joined words.
    fragments: Vec<String>,
    /// Matched as whole words, or as a run of whole words.
    words: Vec<Vec<String>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[])
    }
}

impl Redactor {
    pub fn new(extra: &[String]) -> Self {
        let mut fragments: Vec<String> = SENSITIVE_FRAGMENTS
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        let mut words: Vec<Vec<String>> = SENSITIVE_WORDS
            .iter()
            .map(|w| vec![(*w).to_owned()])
            .collect();
        for term in DEFAULT_SENSITIVE
            .iter()
            .map(|t| (*t).to_owned())
            .chain(extra.iter().cloned())
        {
            let w = key_words(&term);
            let joined = w.concat();
            // Long terms are distinctive enough to match inside a word; short ones
            // (`pin`) only as whole words, so `shipping` stays readable.
            if joined.len() >= 5 {
                fragments.push(joined);
            } else if !w.is_empty() {
                words.push(w);
            }
        }
        fragments.sort();
        fragments.dedup();
        Redactor { fragments, words }
    }

    pub fn is_sensitive(&self, key: &str) -> bool {
        let w = key_words(key);
        if w.is_empty() {
            return false;
        }
        let joined = w.concat();
        self.fragments.iter().any(|f| joined.contains(f.as_str()))
            || self
                .words
                .iter()
                .any(|term| w.windows(term.len()).any(|run| run == term.as_slice()))
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
        // A name/value object (`{"name": "sip_password", "value": …}`, a parameter
        // push's metadata) masks the value of what it names.
        let names_secret = NAME_MEMBERS.iter().any(|n| {
            map.get(*n)
                .and_then(Value::as_str)
                .is_some_and(|name| self.is_sensitive(name))
        });
        for (key, value) in map.iter_mut() {
            if self.is_sensitive(key) || (names_secret && VALUE_MEMBERS.contains(&key.as_str())) {
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
            path: "connection".to_owned(),
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
            .find(|c| c.path == "connection")
            .unwrap();
        assert_eq!(creds.new, Some(json!({"token": MASK, "host": "h"})));
        assert!(!Redactor::default().is_sensitive("pin"));
    }
}

#[cfg(test)]
mod spelling_tests {
    use super::*;
    use serde_json::json;

    /// Every spelling and shape of a secret key is masked; ordinary keys are not.
    #[test]
    fn secrets_are_masked_however_the_key_is_spelled() {
        let r = Redactor::new(&["PIN".to_owned(), "voicemail code".to_owned()]);
        let sensitive = [
            "password",
            "Password",
            "PASSWORD",
            "passwd",
            "pwd",
            "sip_pwd",
            "sshPassword",
            "ssh_password",
            "SSH-Password",
            "ssh.password",
            "ssh password",
            "userPassword",
            "password_hash",
            "passphrase",
            "privateKey",
            "private_key",
            "Private-Key",
            "PRIVATE_KEY",
            "private.key",
            "tlsPrivateKey",
            "apiKey",
            "api_key",
            "API-KEY",
            "x-api-key",
            "APIKey",
            "apikey",
            "accessToken",
            "access_token",
            "refresh_token",
            "idToken",
            "token",
            "authToken",
            "client_secret",
            "clientSecret",
            "secret",
            "webhookSecret",
            "sip_password",
            "sipPassword",
            "credentials",
            "awsCredential",
            "snmp_community",
            "snmpCommunity",
            "community",
            "two_fa_secret",
            "mfaSecret",
            "totpSeed",
            "otp",
            "recovery_codes",
            "recoveryCode",
            "session_id",
            "sessionId",
            "PHPSESSID",
            "cookie",
            "Set-Cookie",
            "authorization",
            "Authorization",
            "jwt",
            "bearer_value",
            "db_pass",
            "wifi_psk",
            "pin",
            "voicemailPin",
            "pin_code",
            "voicemail_code",
            "VoicemailCode",
            "signingKey",
            "encryption_key",
            "key_hash",
        ];
        for key in sensitive {
            assert!(r.is_sensitive(key), "`{key}` should be sensitive");
        }
        let ordinary = [
            "name",
            "description",
            "shipping",
            "mapping",
            "footprint",
            "port",
            "keyboard",
            "extension",
            "display_name",
            "ring_timeout_s",
            "codec",
            "passthrough",
            "host",
            "key",
            "id",
            "pinned_at",
            "spinner",
        ];
        for key in ordinary {
            assert!(!r.is_sensitive(key), "`{key}` should not be sensitive");
        }
        assert!(sensitive.len() >= 40);
    }

    #[test]
    fn name_value_pairs_and_parameter_pushes_mask_the_value() {
        let r = Redactor::default();
        let mut meta = Map::new();
        meta.insert("parameter".into(), json!("sip_password"));
        meta.insert("value".into(), json!("hunter2"));
        meta.insert("previous_value".into(), json!("hunter1"));
        meta.insert("outcome".into(), json!("changed"));
        meta.insert(
            "settings".into(),
            json!([{"name": "adminPassword", "value": "s3cret"}, {"name": "port", "value": 5060}]),
        );
        r.mask_map(&mut meta);
        let text = serde_json::to_string(&meta).unwrap();
        for secret in ["hunter2", "hunter1", "s3cret"] {
            assert!(!text.contains(secret), "{secret}: {text}");
        }
        assert_eq!(meta["outcome"], json!("changed"));
        assert_eq!(meta["settings"][1]["value"], json!(5060));

        // A list of name/value pairs diffs by name, and the changed secret keeps a
        // masked "changed" instead of its values.
        let before = json!({"params": [{"name": "sip_password", "value": "a1"}, {"name": "port", "value": 1}]});
        let after = json!({"params": [{"name": "sip_password", "value": "b2"}, {"name": "port", "value": 2}]});
        let mut changes = diff(&before, &after);
        changes.iter_mut().for_each(|c| r.mask_change(c));
        let secret = changes
            .iter()
            .find(|c| c.path == "params[name=sip_password].value")
            .unwrap();
        assert_eq!(
            (secret.old.clone(), secret.new.clone()),
            (Some(json!(MASK)), Some(json!(MASK)))
        );
        let port = changes
            .iter()
            .find(|c| c.path == "params[name=port].value")
            .unwrap();
        assert_eq!(port.new, Some(json!(2)));
    }
}
