//! The feed's query language, as GitHub's audit log has it:
//!
//! ```text
//! actor:jane@northwind.example action:delete,update -category:security
//! instance:"Acme HQ" target:trunk/SIP-6 after:2026-11-01 before:2026-11-08
//! source:"PBX sync" after hours
//! ```
//!
//! `field:value` terms (several values by comma or by repeating the field: any of
//! them matches; a leading `-` excludes), quoted values for spaces, and free words
//! that the full-text search matches. Parsed the same in the browser (to fill the
//! filter controls and say what is wrong where) and on the server (to answer it).

use crate::catalog::{Action, CategoryName, TypeName};
use chrono::{DateTime, NaiveDate, Utc};
use std::fmt;

/// What a term filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Actor,
    Action,
    Category,
    Event,
    Instance,
    Target,
    Source,
    After,
    Before,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Actor,
        Field::Action,
        Field::Category,
        Field::Event,
        Field::Instance,
        Field::Target,
        Field::Source,
        Field::After,
        Field::Before,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Field::Actor => "actor",
            Field::Action => "action",
            Field::Category => "category",
            Field::Event => "event",
            Field::Instance => "instance",
            Field::Target => "target",
            Field::Source => "source",
            Field::After => "after",
            Field::Before => "before",
        }
    }

    /// What the field takes, for autocompletion and error messages.
    pub const fn hint(self) -> &'static str {
        match self {
            Field::Actor => "who: an email, an API key's name, an id or system",
            Field::Action => "what kind of change: create, update, delete…",
            Field::Category => "a category: config, security, access…",
            Field::Event => "an event type: extension.update…",
            Field::Instance => "an instance's name or id",
            Field::Target => "a resource: kind/id (trunk/SIP-6), a name or an id",
            Field::Source => "what wrote it: an API key's name or id, or stele",
            Field::After => "on or after a day: 2026-11-01",
            Field::Before => "before a day: 2026-11-08",
        }
    }

    /// A field by name; `type` and `event_type` are the event's other spellings.
    pub fn from_name(name: &str) -> Option<Field> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "type" | "event_type" => Some(Field::Event),
            _ => Field::ALL.into_iter().find(|f| f.name() == name),
        }
    }

    /// `after` and `before` bound the time: one value, never negated.
    pub const fn is_time(self) -> bool {
        matches!(self, Field::After | Field::Before)
    }
}

/// One `field:value,value` of a query; `negated` for `-field:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub field: Field,
    pub values: Vec<String>,
    pub negated: bool,
}

/// A parsed query: its terms and its free words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
    pub words: Vec<String>,
}

/// What is wrong with a query, and where: `start..end` in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.start + 1, self.message)
    }
}

impl std::error::Error for QueryError {}

/// The longest query the feeds accept, in characters.
pub const MAX_QUERY: usize = 400;

/// A value as the query writes it: quoted when it holds a space, a comma, a colon
/// or nothing.
pub fn quoted(value: &str) -> String {
    if value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == ':')
    {
        format!("\"{value}\"")
    } else {
        value.to_owned()
    }
}

/// A day (`2026-11-01`, midnight UTC on the server) or an RFC 3339 instant.
pub fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Query {
    /// The terms of one field.
    pub fn of(&self, field: Field) -> impl Iterator<Item = &Term> {
        self.terms.iter().filter(move |t| t.field == field)
    }

    /// `after:` as a bound (inclusive).
    pub fn after(&self) -> Option<DateTime<Utc>> {
        self.of(Field::After)
            .find_map(|t| t.values.first())
            .and_then(|v| parse_instant(v))
    }

    /// `before:` as a bound (exclusive).
    pub fn before(&self) -> Option<DateTime<Utc>> {
        self.of(Field::Before)
            .find_map(|t| t.values.first())
            .and_then(|v| parse_instant(v))
    }

    /// The free words, for the full-text search (`None`: none).
    pub fn text(&self) -> Option<String> {
        (!self.words.is_empty()).then(|| self.words.join(" "))
    }

    /// The query as one writes it; parsing it gives this query back.
    pub fn to_text(&self) -> String {
        let mut parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let values: Vec<String> = t.values.iter().map(|v| quoted(v)).collect();
                format!(
                    "{}{}:{}",
                    if t.negated { "-" } else { "" },
                    t.field.name(),
                    values.join(",")
                )
            })
            .collect();
        parts.extend(self.words.iter().map(|w| {
            if w.chars().any(|c| c == ':' || c == '"' || c == ',') || w.starts_with('-') {
                format!("\"{}\"", w.replace('"', ""))
            } else {
                w.clone()
            }
        }));
        parts.join(" ")
    }
}

/// The closest field name to a mistyped one, if it is close.
fn suggestion(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    Field::ALL
        .iter()
        .map(|f| (distance(&name, f.name()), f.name()))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = here;
        }
    }
    row[b.len()]
}

fn error(start: usize, end: usize, message: impl Into<String>) -> QueryError {
    QueryError {
        start,
        end,
        message: message.into(),
    }
}

/// Checks one value of a field: a known action, a well-formed category or type
/// name, a date.
fn check_value(field: Field, value: &str, start: usize, end: usize) -> Result<(), QueryError> {
    let bad = |message: String| Err(error(start, end, message));
    match field {
        Field::Action if value.parse::<Action>().is_err() => bad(format!(
            "“{value}” is not an action; actions are {}",
            Action::ALL.map(Action::as_str).join(", ")
        )),
        Field::Category if CategoryName::parse(value).is_none() => bad(format!(
            "“{value}” is not a category name (lowercase words joined by _, like config)"
        )),
        Field::Event if TypeName::parse(value).is_err() => bad(format!(
            "“{value}” is not an event type name (dotted lowercase words, like extension.update)"
        )),
        Field::After | Field::Before if parse_instant(value).is_none() => bad(format!(
            "{}: wants a day like 2026-11-01 (or an instant like 2026-11-01T14:00:00Z), not “{value}”",
            field.name()
        )),
        _ => Ok(()),
    }
}

/// Parses a query. Every mistake is reported with where it is.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_QUERY {
        return Err(error(
            MAX_QUERY,
            chars.len(),
            format!("the search is longer than {MAX_QUERY} characters"),
        ));
    }
    let mut query = Query::default();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // A token runs to the next space outside quotes.
        let mut in_quote = None;
        let mut j = i;
        while j < chars.len() && (in_quote.is_some() || !chars[j].is_whitespace()) {
            if chars[j] == '"' {
                in_quote = match in_quote {
                    Some(_) => None,
                    None => Some(j),
                };
            }
            j += 1;
        }
        if let Some(q) = in_quote {
            return Err(error(q, j, "this quote is never closed: add a closing \""));
        }
        let token = &chars[start..j];
        i = j;
        // `-field:` or `field:` with a name of letters and underscores.
        let negated = token[0] == '-';
        let name_start = usize::from(negated);
        let name_len = token[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || **c == '_')
            .count();
        let colon = name_start + name_len;
        if name_len == 0 || colon >= token.len() || token[colon] != ':' {
            push_words(&mut query.words, token);
            continue;
        }
        let name: String = token[name_start..colon].iter().collect();
        let (name_from, name_to) = (start + name_start, start + colon);
        let Some(field) = Field::from_name(&name) else {
            let hint = match suggestion(&name) {
                Some(s) => format!("did you mean {s}:? "),
                None => String::new(),
            };
            return Err(error(
                name_from,
                name_to,
                format!(
                    "there is no field “{name}”; {hint}fields are {}. To search for the text itself, put it in quotes",
                    Field::ALL.map(Field::name).join(", ")
                ),
            ));
        };
        if negated && field.is_time() {
            return Err(error(
                start,
                name_to,
                format!(
                    "-{}: cannot be negated; use {}: instead",
                    field.name(),
                    if field == Field::After {
                        "before"
                    } else {
                        "after"
                    }
                ),
            ));
        }
        // Values: comma-separated, each maybe quoted.
        let mut values = Vec::new();
        let mut k = colon + 1;
        loop {
            let value_start = k;
            let mut value = String::new();
            let mut quote = false;
            while k < token.len() && (quote || token[k] != ',') {
                if token[k] == '"' {
                    quote = !quote;
                } else {
                    value.push(token[k]);
                }
                k += 1;
            }
            let (from, to) = (start + value_start, start + k.max(value_start + 1));
            if value.trim().is_empty() {
                return Err(error(
                    from,
                    to,
                    format!("{}: needs a value here ({})", field.name(), field.hint()),
                ));
            }
            let value = value.trim().to_owned();
            check_value(field, &value, from, to)?;
            values.push(value);
            if k >= token.len() {
                break;
            }
            k += 1; // the comma
        }
        if field.is_time() {
            if values.len() > 1 {
                return Err(error(
                    name_from,
                    start + token.len(),
                    format!("{}: takes one day", field.name()),
                ));
            }
            if query.of(field).next().is_some() {
                return Err(error(
                    name_from,
                    start + token.len(),
                    format!("{}: is given twice", field.name()),
                ));
            }
        }
        match query
            .terms
            .iter_mut()
            .find(|t| t.field == field && t.negated == negated)
        {
            Some(t) => {
                for v in values {
                    if !t.values.contains(&v) {
                        t.values.push(v);
                    }
                }
            }
            None => query.terms.push(Term {
                field,
                values,
                negated,
            }),
        }
    }
    if let (Some(after), Some(before)) = (query.after(), query.before()) {
        if before <= after {
            let at = input.find("before:").unwrap_or(0);
            let at = input[..at].chars().count();
            return Err(error(
                at,
                at + 7,
                "before: is not later than after:, so nothing could match",
            ));
        }
    }
    Ok(query)
}

/// Free text: quotes dropped, each word kept.
fn push_words(words: &mut Vec<String>, token: &[char]) {
    let text: String = token.iter().filter(|c| **c != '"').collect();
    words.extend(text.split_whitespace().map(str::to_owned));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issues_example_parses() {
        let q = parse(
            r#"actor:jane@northwind.example action:delete -category:security instance:"Acme HQ" target:trunk/SIP-6 after:2026-11-01 before:2026-11-08 source:"PBX sync" after hours"#,
        )
        .unwrap();
        let term = |f: Field| q.of(f).next().unwrap().clone();
        assert_eq!(term(Field::Actor).values, ["jane@northwind.example"]);
        assert_eq!(term(Field::Action).values, ["delete"]);
        assert!(term(Field::Category).negated);
        assert_eq!(term(Field::Instance).values, ["Acme HQ"]);
        assert_eq!(term(Field::Target).values, ["trunk/SIP-6"]);
        assert_eq!(term(Field::Source).values, ["PBX sync"]);
        assert_eq!(q.after().unwrap().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(q.words, ["after", "hours"]);
    }

    #[test]
    fn several_values_and_repeats_merge() {
        let q = parse("action:delete,update action:disable -action:create type:extension.update")
            .unwrap();
        let positive = q.of(Field::Action).find(|t| !t.negated).unwrap();
        assert_eq!(positive.values, ["delete", "update", "disable"]);
        assert!(q
            .of(Field::Action)
            .any(|t| t.negated && t.values == ["create"]));
        assert_eq!(
            q.of(Field::Event).next().unwrap().values,
            ["extension.update"]
        );
    }

    #[test]
    fn text_round_trips() {
        for text in [
            "",
            "registrar",
            r#"actor:jane@x.example -category:security,access instance:"Acme HQ" after:2026-11-01 words here"#,
            r#"target:"Main trunk" source:stele "10:30""#,
        ] {
            let q = parse(text).unwrap();
            let again = parse(&q.to_text()).unwrap();
            assert_eq!(q, again, "{text} → {}", q.to_text());
        }
    }

    /// Each mistake names what is wrong and where it is.
    #[test]
    fn mistakes_say_what_and_where() {
        for (text, at, says) in [
            ("acter:jane", 0, "did you mean actor:"),
            ("x action:remove", 9, "not an action"),
            ("after:yesterday", 6, "wants a day"),
            ("instance:\"Acme HQ", 9, "never closed"),
            ("actor:", 6, "needs a value"),
            ("action:delete,,update", 14, "needs a value"),
            ("-after:2026-11-01", 0, "cannot be negated"),
            ("after:2026-11-08 before:2026-11-01", 17, "not later"),
            ("category:Config!", 9, "not a category"),
            ("after:2026-11-01 after:2026-11-02", 17, "given twice"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(says), "{text}: {}", e.message);
            assert_eq!(e.start, at, "{text}: {e}");
            assert!(e.end > e.start, "{text}: an empty span");
        }
        let long = "a".repeat(MAX_QUERY + 1);
        assert!(parse(&long).unwrap_err().message.contains("longer"));
    }

    #[test]
    fn text_that_only_looks_like_a_field_is_text() {
        let q = parse("10:30 \"sip:alice\" -x").unwrap();
        assert!(q.terms.is_empty());
        assert_eq!(q.words, ["10:30", "sip:alice", "-x"]);
    }

    #[test]
    fn field_names_have_spellings() {
        for (name, field) in [
            ("ACTOR", Field::Actor),
            ("type", Field::Event),
            ("event_type", Field::Event),
            ("event", Field::Event),
        ] {
            assert_eq!(Field::from_name(name), Some(field), "{name}");
        }
        assert_eq!(Field::from_name("who"), None);
    }
}
