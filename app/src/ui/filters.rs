//! Feed filters that live in the URL: `/audit?action=delete&target_kind=extension`.
//! [`ViewQuery`] reads them from the query string and writes them back, so a reload,
//! back/forward or a pasted link gives the same view; [`FilterBar`] edits them and
//! shows the active ones as removable chips.

use crate::api::{users, FeedFilter};
use crate::catalog::{Action, Category, CategoryName, EventType, TypeName};
use crate::query::{Field, Query, Term};
use chrono::{DateTime, Duration, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::params::ParamsMap;

/// Every query parameter a feed understands, in the order they are written.
pub const KEYS: [&str; 13] = [
    "category",
    "action",
    "event_type",
    "instance_id",
    "target_kind",
    "target_id",
    "actor",
    "source",
    "resource",
    "range",
    "from",
    "to",
    "q",
];

/// The timeframes of the picker: (URL value, label, length).
pub const RANGES: [(&str, &str, Option<i64>); 8] = [
    ("today", "Today", None),
    ("yesterday", "Yesterday", None),
    ("24h", "Last 24 hours", Some(1)),
    ("7d", "Last 7 days", Some(7)),
    ("30d", "Last 30 days", Some(30)),
    ("90d", "Last 90 days", Some(90)),
    ("all", "All time", None),
    ("custom", "Custom range", None),
];

/// The view's query parameters: what is in the URL, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewQuery {
    pairs: Vec<(String, String)>,
}

impl ViewQuery {
    pub fn from_params(params: &ParamsMap) -> Self {
        let mut pairs = Vec::new();
        for key in KEYS.iter().chain(["tenant", "page", "size"].iter()) {
            if let Some(v) = params.get(key).filter(|v| !v.trim().is_empty()) {
                pairs.push(((*key).to_owned(), v));
            }
        }
        ViewQuery { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The same view with `key` set (or removed when `value` is empty). Changing a
    /// filter goes back to the first page.
    pub fn with(&self, key: &str, value: &str) -> Self {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != key && k != "page")
            .cloned()
            .collect();
        if !value.trim().is_empty() {
            pairs.push((key.to_owned(), value.trim().to_owned()));
        }
        if key == "range" && value != "custom" {
            pairs.retain(|(k, _)| k != "from" && k != "to");
        }
        ViewQuery { pairs }
    }

    /// The same view on page `n`.
    pub fn with_page(&self, n: u32) -> Self {
        let mut q = self.clone();
        q.pairs.retain(|(k, _)| k != "page");
        q.pairs.push(("page".to_owned(), n.to_string()));
        q
    }

    /// Only the tenant (and page size) kept: "clear all".
    pub fn cleared(&self) -> Self {
        ViewQuery {
            pairs: self
                .pairs
                .iter()
                .filter(|(k, _)| k == "tenant" || k == "size")
                .cloned()
                .collect(),
        }
    }

    pub fn href(&self, path: &str) -> String {
        let mut pairs = self.pairs.clone();
        let order = |k: &str| KEYS.iter().position(|x| *x == k).unwrap_or(usize::MAX);
        pairs.sort_by_key(|(k, _)| order(k));
        if pairs.is_empty() {
            return path.to_owned();
        }
        let qs = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("{path}?{qs}")
    }

    /// The filter the server gets. Unknown values (a mistyped link) are ignored
    /// rather than failing the whole view.
    pub fn filter(&self, now: DateTime<Utc>) -> FeedFilter {
        let text = |k: &str| self.get(k).map(str::to_owned);
        let (since, until) = self.timeframe(now);
        FeedFilter {
            category: self.get("category").and_then(CategoryName::parse),
            action: self.get("action").and_then(|v| v.parse::<Action>().ok()),
            event_type: self.get("event_type").and_then(|v| TypeName::parse(v).ok()),
            instance_id: text("instance_id"),
            target_kind: text("target_kind"),
            target_id: text("target_id"),
            actor: text("actor"),
            source: text("source"),
            resource: text("resource"),
            since,
            until,
            q: text("q"),
        }
    }

    /// A custom bound: a local day, or a local time (`2026-11-30T14:00`, what the
    /// histogram's drag writes). `end` makes a day's bound the end of that day.
    fn bound(&self, key: &str, end: bool) -> Option<DateTime<Utc>> {
        let v = self.get(key)?;
        let local = |t: NaiveDateTime| {
            Local
                .from_local_datetime(&t)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        if let Ok(day) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            let day = if end { day.succ_opt()? } else { day };
            return local(day.and_hms_opt(0, 0, 0)?);
        }
        NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
            .ok()
            .and_then(local)
    }

    /// Whether the custom range is set to the minute (the histogram's drag).
    pub fn range_has_times(&self) -> bool {
        ["from", "to"]
            .iter()
            .any(|k| self.get(k).is_some_and(|v| v.contains('T')))
    }

    /// What is wrong with a custom range, said where it is set (`None`: nothing).
    pub fn range_error(&self) -> Option<String> {
        if self.get("range") != Some("custom") {
            return None;
        }
        match (self.bound("from", false), self.bound("to", true)) {
            (Some(from), Some(to)) if to <= from => Some(format!(
                "“To” ({}) is before “From” ({}): pick a later “To” or an earlier “From”",
                self.get("to").unwrap_or_default(),
                self.get("from").unwrap_or_default()
            )),
            _ => None,
        }
    }

    /// `range` as UTC bounds; a custom range runs from the start of `from` to the end
    /// of `to`, both days (or times) in the viewer's time zone.
    fn timeframe(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let start = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .and_then(|t| Local.from_local_datetime(&t).earliest())
                .map(|t| t.with_timezone(&Utc))
        };
        let today = now.with_timezone(&Local).date_naive();
        match self.get("range") {
            Some("custom") if self.range_error().is_some() => (None, None),
            Some("custom") => (self.bound("from", false), self.bound("to", true)),
            Some("today") => (start(today), None),
            Some("yesterday") => (today.pred_opt().and_then(start), start(today)),
            Some(r) => match RANGES.iter().find(|(v, _, _)| *v == r) {
                Some((_, _, Some(days))) => (Some(now - Duration::days(*days)), None),
                _ => (None, None),
            },
            None => (None, None),
        }
    }

    /// The view as the search box writes it: the filters the query language can
    /// say (`category:config action:delete after:2026-11-01 …`), then the rest of
    /// `q`. Submitting it unchanged gives this view back ([`Self::with_query`]).
    pub fn query_text(&self) -> String {
        let mut query = Query::default();
        let mut say = |field: Field, value: String| {
            query.terms.push(Term {
                field,
                values: vec![value],
                negated: false,
            })
        };
        for (key, field) in [
            ("category", Field::Category),
            ("action", Field::Action),
            ("event_type", Field::Event),
            ("actor", Field::Actor),
            ("instance_id", Field::Instance),
            ("source", Field::Source),
        ] {
            if let Some(v) = self.get(key) {
                say(field, v.to_owned());
            }
        }
        if let (Some(kind), Some(id)) = (self.get("target_kind"), self.get("target_id")) {
            say(Field::Target, format!("{kind}/{id}"));
        }
        if self.get("range") == Some("custom") && !self.range_has_times() {
            if let Some(from) = self.get("from") {
                say(Field::After, from.to_owned());
            }
            if let Some(to) = self
                .get("to")
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                .and_then(|d| d.succ_opt())
            {
                say(Field::Before, to.format("%Y-%m-%d").to_string());
            }
        }
        let mut text = query.to_text();
        if let Some(rest) = self.get("q") {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(rest);
        }
        text
    }

    /// The view with the search box's query: every filter the box shows is
    /// replaced by what it now says. A single value of a field with its own control
    /// goes to that control's key (so the control shows it); the rest (several
    /// values, exclusions, names, free words) stays in `q`. Days are the viewer's.
    pub fn with_query(&self, query: &Query) -> ViewQuery {
        let mut shown: Vec<&str> = vec![
            "category",
            "action",
            "event_type",
            "actor",
            "instance_id",
            "source",
            "q",
            "page",
        ];
        if self.get("target_kind").is_some() && self.get("target_id").is_some() {
            shown.extend(["target_kind", "target_id"]);
        }
        if self.get("range") == Some("custom") && !self.range_has_times() {
            shown.extend(["range", "from", "to"]);
        }
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| !shown.contains(&k.as_str()))
            .cloned()
            .collect();
        // Sets a key; true, so that a placed term reads `set(…)`.
        let mut set = |k: &str, v: String| {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_owned(), v));
            true
        };
        let is_id = |v: &str| uuid::Uuid::parse_str(v).is_ok();
        let day = |v: &str| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok();
        let mut rest = Query {
            terms: Vec::new(),
            words: query.words.clone(),
        };
        let mut custom = false;
        for term in &query.terms {
            let single = (!term.negated && term.values.len() == 1).then(|| term.values[0].clone());
            let placed = match (term.field, single) {
                (Field::Category, Some(v)) => set("category", v),
                (Field::Action, Some(v)) => set("action", v),
                (Field::Event, Some(v)) => set("event_type", v),
                (Field::Actor, Some(v)) if v == "system" || is_id(&v) => set("actor", v),
                (Field::Source, Some(v)) if v == "stele" || is_id(&v) => set("source", v),
                (Field::Target, Some(v)) => match v.split_once('/') {
                    Some((k, id)) if !k.is_empty() && !id.is_empty() => {
                        set("target_kind", k.to_owned());
                        set("target_id", id.to_owned())
                    }
                    _ => false,
                },
                (Field::After, Some(v)) if day(&v).is_some() => {
                    custom = true;
                    set("from", v)
                }
                (Field::Before, Some(v)) if day(&v).is_some() => {
                    custom = true;
                    let to = day(&v).and_then(|d| d.pred_opt()).unwrap_or_default();
                    set("to", to.format("%Y-%m-%d").to_string())
                }
                _ => false,
            };
            if !placed {
                rest.terms.push(term.clone());
            }
        }
        if custom {
            set("range", "custom".to_owned());
        }
        let rest = rest.to_text();
        if !rest.is_empty() {
            set("q", rest);
        }
        ViewQuery { pairs }
    }

    /// The export of exactly this view: `/api/v1/events/export?format=…&…`, with the
    /// timeframe resolved to UTC bounds now.
    pub fn export_href(&self, format: &str, now: DateTime<Utc>) -> String {
        let f = self.filter(now);
        let mut q = ViewQuery::default();
        q.pairs.push(("format".to_owned(), format.to_owned()));
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                q.pairs.push((k.to_owned(), v));
            }
        };
        add("tenant", self.get("tenant").map(str::to_owned));
        add("category", f.category.map(|c| c.as_str().to_owned()));
        add("action", f.action.map(|a| a.as_str().to_owned()));
        add("event_type", f.event_type.map(|t| t.as_str().to_owned()));
        add("instance_id", f.instance_id);
        add("target_kind", f.target_kind);
        add("target_id", f.target_id);
        add("actor", f.actor);
        add("source", f.source);
        add("resource", f.resource);
        add("q", f.q);
        let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        add("from", f.since.map(stamp));
        add("to", f.until.map(stamp));
        let qs = q
            .pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("/api/v1/events/export?{qs}")
    }

    /// The active filters as chips: (key, text).
    pub fn chips(&self) -> Vec<(&'static str, String)> {
        let mut chips = Vec::new();
        for key in KEYS {
            let Some(v) = self.get(key) else { continue };
            let text = match key {
                "category" => format!(
                    "Category: {}",
                    v.parse::<Category>().map_or(v, |c| c.label())
                ),
                "action" => format!("Action: {v}"),
                "event_type" => format!("Event: {v}"),
                "instance_id" => format!("Instance: {v}"),
                "target_kind" => format!("Target kind: {v}"),
                "target_id" => format!("Target id: {v}"),
                "actor" if v == "system" => "Actor: System".to_owned(),
                "actor" => format!("Actor: {v}"),
                "source" if v == "stele" => "Source: Stele".to_owned(),
                "source" => format!("Source: key {v}"),
                "resource" => format!("Resource: {v}"),
                "range" => match v {
                    "custom" => format!(
                        "Time: {} – {}",
                        self.get("from").unwrap_or("…"),
                        self.get("to").unwrap_or("…")
                    ),
                    _ => format!(
                        "Time: {}",
                        RANGES
                            .iter()
                            .find(|(r, _, _)| *r == v)
                            .map_or(v, |(_, l, _)| *l)
                    ),
                },
                "q" => format!("Search: “{v}”"),
                _ => continue,
            };
            chips.push((key, text));
        }
        chips
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub(crate) fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The view's query, kept in step with the URL.
pub fn use_view_query() -> Memo<ViewQuery> {
    let query = use_query_map();
    Memo::new(move |_| ViewQuery::from_params(&query.read()))
}

/// `on:change` handlers that write a control's value under a key into the URL.
pub fn url_setter(
    path: &'static str,
    view_query: Memo<ViewQuery>,
) -> impl Fn(&'static str) -> Box<dyn Fn(leptos::ev::Event)> + Clone {
    let navigate = use_navigate();
    move |key| {
        let navigate = navigate.clone();
        Box::new(move |ev| {
            let q = view_query
                .get_untracked()
                .with(key, &event_target_value(&ev));
            navigate(&q.href(path), Default::default());
        })
    }
}

/// The timeframe of a feed (`range` in the URL).
#[component]
pub fn TimeframeSelect(#[prop(into)] path: String, view_query: Memo<ViewQuery>) -> impl IntoView {
    let navigate = use_navigate();
    let change = move |ev: leptos::ev::Event| {
        let q = view_query
            .get_untracked()
            .with("range", &event_target_value(&ev));
        navigate(&q.href(&path), Default::default());
    };
    view! {
        <label>"Timeframe"
            <select aria-label="Timeframe" on:change=change prop:value=move || view_query.read().get("range").unwrap_or("all").to_owned()>
                {RANGES.iter().map(|(v, l, _)| view! { <option value=*v>{*l}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// The tenant feed's filter controls and chips. Every change navigates, so the URL
/// is the state.
#[component]
pub fn FilterBar(
    path: &'static str,
    view_query: Memo<ViewQuery>,
    #[prop(into)] vocabulary: Signal<Vec<super::query_box::Suggestion>>,
) -> impl IntoView {
    let set = url_setter(path, view_query);
    let value =
        move |key: &'static str| move || view_query.read().get(key).unwrap_or_default().to_owned();
    let people = LocalResource::new(|| users(None));
    // People, producers' actors and API keys that appear in the log.
    let acting = LocalResource::new(move || {
        let tenant = view_query.read().get("tenant").map(str::to_owned);
        async move { crate::api::actors(tenant).await.unwrap_or_default() }
    });
    // Every type the tenant can hold: built-in, its packs' and its own.
    let catalog = LocalResource::new(move || {
        let tenant = view_query.read().get("tenant").map(str::to_owned);
        async move { crate::api::catalog(tenant).await.ok() }
    });
    let custom = move || view_query.read().get("range") == Some("custom");
    // A span dragged on the histogram is to the minute; a picked one is in days.
    let input_type = move || {
        if view_query.read().range_has_times() {
            "datetime-local"
        } else {
            "date"
        }
    };
    let actor_options = move || {
        let mut options: Vec<(String, String)> = Vec::new();
        for u in people.get().and_then(|r| r.ok()).unwrap_or_default() {
            let label = match &u.name {
                Some(n) => format!("{n} <{}>", u.email),
                None => u.email.clone(),
            };
            options.push((u.id.to_string(), label));
        }
        for a in acting.get().unwrap_or_default() {
            if !options.iter().any(|(v, _)| *v == a.value) {
                options.push((a.value, a.label));
            }
        }
        // A link may name an actor neither list holds.
        if let Some(a) = view_query.read().get("actor").filter(|a| *a != "system") {
            if !options.iter().any(|(v, _)| v == a) {
                options.push((a.to_owned(), a.to_owned()));
            }
        }
        options
    };
    view! {
        <super::query_box::QueryBox path=path view_query=view_query vocabulary=vocabulary/>
        // On a phone the controls fold away under "Filters" (the query box does all
        // they do); on wider screens they are open, and the summary is not shown.
        <details class="filter-panel" prop:open=wide_window()>
        <summary>"Filters"</summary>
        <div class="filters">
            <label>"Action"
                <select aria-label="Action" on:change=set("action") prop:value=value("action")>
                    <option value="">"Any"</option>
                    {Action::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Event type"
                <select aria-label="Event type" on:change=set("event_type") prop:value=value("event_type")>
                    <option value="">"Any"</option>
                    {move || match catalog.get().flatten() {
                        Some(c) => c.types.into_iter().map(|t| {
                            let name = t.name.to_string();
                            view! { <option value=name.clone()>{name.clone()}</option> }
                        }).collect_view().into_any(),
                        None => EventType::ALL.iter().map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> }).collect_view().into_any(),
                    }}
                    // A link may name a type the list does not hold.
                    {move || view_query.read().get("event_type").filter(|t| t.parse::<EventType>().is_err()).map(|t| view! { <option value=t.to_owned()>{t.to_owned()}</option> })}
                </select>
            </label>
            <label>"Actor"
                <select aria-label="Actor" on:change=set("actor") prop:value=value("actor")>
                    <option value="">"Anyone"</option>
                    <option value="system">"System"</option>
                    {move || actor_options().into_iter().map(|(v, label)| view! {
                        <option value=v>{super::visible(&label)}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Target kind"
                <input aria-label="Target kind" type="text" placeholder="e.g. extension" on:change=set("target_kind") prop:value=value("target_kind")/>
            </label>
            <label>"Target id"
                <input aria-label="Target id" type="text" on:change=set("target_id") prop:value=value("target_id")/>
            </label>
            <label>"Resource name"
                <input aria-label="Resource name" type="text" placeholder="instance or target" on:change=set("resource") prop:value=value("resource")/>
            </label>
            <TimeframeSelect path=path view_query=view_query/>
            <Show when=custom>
                <label>"From" <input aria-label="From" type=input_type on:change=set("from") prop:value=value("from")/></label>
                <label>"To" <input aria-label="To" type=input_type on:change=set("to") prop:value=value("to")
                    aria-invalid=move || view_query.read().range_error().is_some().to_string()
                    aria-describedby="range-error"/></label>
                <p id="range-error" class="field-error" role="alert">{move || view_query.read().range_error()}</p>
            </Show>
        </div>
        </details>
        <Chips path=path view_query=view_query/>
    }
}

/// Whether the window is wider than a phone's (the filter controls start open).
fn wide_window() -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window()
            .and_then(|w| w.inner_width().ok())
            .and_then(|w| w.as_f64())
            .is_none_or(|w| w > 600.0)
    }
    #[cfg(not(target_arch = "wasm32"))]
    true
}

/// The active filters as removable chips, and "Clear all".
#[component]
pub fn Chips(#[prop(into)] path: String, view_query: Memo<ViewQuery>) -> impl IntoView {
    let navigate = use_navigate();
    let go = move |q: ViewQuery| navigate(&q.href(&path), Default::default());
    move || {
        let chips = view_query.read().chips();
        (!chips.is_empty()).then(|| {
            let chip_go = go.clone();
            let clear_go = go.clone();
            view! {
                <ul class="chips" aria-label="Active filters">
                    {chips.into_iter().map(|(key, text)| {
                        let chip_go = chip_go.clone();
                        view! {
                            <li class="chip">
                                <span>{text.clone()}</span>
                                <button type="button" aria-label=format!("Remove filter {text}")
                                    on:click=move |_| {
                                        let q = view_query.get_untracked().with(key, "");
                                        let q = if key == "range" { q.with("from", "").with("to", "") } else { q };
                                        chip_go(q)
                                    }>"×"</button>
                            </li>
                        }
                    }).collect_view()}
                    <li><button type="button" class="linkish" on:click=move |_| clear_go(view_query.get_untracked().cleared())>"Clear all"</button></li>
                </ul>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ViewQuery {
        ViewQuery {
            pairs: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_url_round_trips_and_changing_a_filter_resets_the_page() {
        let q = query(&[("q", "after hours"), ("action", "delete"), ("page", "3")]);
        assert_eq!(
            q.href("/audit"),
            "/audit?action=delete&q=after%20hours&page=3"
        );
        let changed = q.with("target_kind", "extension");
        assert_eq!(changed.get("page"), None);
        assert_eq!(
            changed.href("/audit"),
            "/audit?action=delete&target_kind=extension&q=after%20hours"
        );
        assert_eq!(changed.with("action", "").get("action"), None);
        assert_eq!(
            query(&[("tenant", "x"), ("q", "y")])
                .cleared()
                .href("/master"),
            "/master?tenant=x"
        );
    }

    #[test]
    fn today_yesterday_and_a_reversed_range() {
        let now = Utc::now();
        let today = now.with_timezone(&Local).date_naive();
        let midnight = |d: NaiveDate| {
            Local
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        };
        let f = query(&[("range", "today")]).filter(now);
        assert_eq!((f.since, f.until), (Some(midnight(today)), None));
        let f = query(&[("range", "yesterday")]).filter(now);
        assert_eq!(
            (f.since, f.until),
            (
                Some(midnight(today.pred_opt().unwrap())),
                Some(midnight(today))
            )
        );
        let reversed = query(&[
            ("range", "custom"),
            ("from", "2026-11-08"),
            ("to", "2026-11-01"),
        ]);
        assert!(reversed.range_error().unwrap().contains("before"));
        let f = reversed.filter(now);
        assert_eq!((f.since, f.until), (None, None), "nothing sent for it");
        let fine = query(&[
            ("range", "custom"),
            ("from", "2026-11-01"),
            ("to", "2026-11-01"),
        ]);
        assert_eq!(fine.range_error(), None);
    }

    #[test]
    fn filters_come_from_the_query() {
        let now = Utc::now();
        let f = query(&[
            ("category", "config"),
            ("action", "nonsense"),
            ("range", "7d"),
            ("actor", "system"),
        ])
        .filter(now);
        assert_eq!(f.category, Some(Category::Config.into()));
        assert_eq!(f.action, None, "an unknown value is ignored");
        assert_eq!(f.since, Some(now - Duration::days(7)));
        assert_eq!(f.actor.as_deref(), Some("system"));
        let custom = query(&[
            ("range", "custom"),
            ("from", "2026-11-01"),
            ("to", "2026-11-02"),
        ])
        .filter(now);
        let (since, until) = (custom.since.unwrap(), custom.until.unwrap());
        assert_eq!(until - since, Duration::days(2));
        assert_eq!(query(&[("range", "all")]).filter(now).since, None);
    }

    #[test]
    fn the_export_link_carries_the_view() {
        let now = Utc::now();
        let href =
            query(&[("action", "delete"), ("q", "a b"), ("range", "all")]).export_href("csv", now);
        assert_eq!(
            href,
            "/api/v1/events/export?format=csv&action=delete&q=a%20b"
        );
        let week = query(&[("range", "7d")]).export_href("ndjson", now);
        assert!(
            week.starts_with("/api/v1/events/export?format=ndjson&from=20"),
            "{week}"
        );
    }

    #[test]
    fn chips_name_each_active_filter() {
        let chips = query(&[
            ("resource", "Acme HQ"),
            ("range", "24h"),
            ("actor", "system"),
        ])
        .chips();
        let texts: Vec<&str> = chips.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            vec!["Actor: System", "Resource: Acme HQ", "Time: Last 24 hours"]
        );
    }
}
