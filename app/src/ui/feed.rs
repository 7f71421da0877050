//! The tenant feed and the instance feeds: newest first, category pills kept in the
//! URL, "Load more" by keyset cursor, a diff expander on every entry that changed
//! something. Both pages share [`Feed`]; the server gates each.

use super::diff::DiffTable;
use super::filters::{use_view_query, Chips, FilterBar, TimeframeSelect, ViewQuery};
use super::query_box::{QueryBox, Suggestion};
use super::time::time_title as exact_title;
use super::ErrorState;
use crate::api::{
    feed_summary, instance_feed, instances, tenant_feed, AppError, FeedFilter, FeedPage,
    InstanceView, ViewSummary,
};
use crate::catalog::{Action, Category};
use crate::entry::{ActorKind, Entry};
use crate::query::Field;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Loading,
    Ready,
    LoadingMore,
    Failed(AppError),
    /// Nothing was asked for: the filters say why (a reversed custom range).
    Waiting(String),
}

/// Which feed to show.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Tenant { tenant: Option<String> },
    Instance { tenant: Option<String>, id: String },
}

impl Source {
    async fn fetch(self, filter: FeedFilter, cursor: Option<i64>) -> Result<FeedPage, AppError> {
        match self {
            Source::Tenant { tenant } => tenant_feed(tenant, filter, cursor).await,
            Source::Instance { tenant, id } => instance_feed(tenant, id, filter, cursor).await,
        }
    }

    fn path(&self) -> String {
        match self {
            Source::Tenant { .. } => "/audit".to_owned(),
            Source::Instance { id, .. } => format!("/instances/{id}"),
        }
    }

    /// The built-in pills; the tenant feed adds its packs' and own categories.
    fn pills(&self) -> Vec<(String, String)> {
        let builtin: &[Category] = match self {
            Source::Tenant { .. } => &Category::ALL,
            Source::Instance { .. } => &Category::INSTANCE_PILLS,
        };
        builtin
            .iter()
            .map(|c| (c.as_str().to_owned(), c.label().to_owned()))
            .collect()
    }
}

#[component]
pub fn TenantFeedPage() -> impl IntoView {
    let view_query = use_view_query();
    let source = Memo::new(move |_| Source::Tenant {
        tenant: view_query.read().get("tenant").map(str::to_owned),
    });
    view! { <Feed source=source title="Tenant feed" view_query=view_query/> }
}

#[component]
pub fn InstanceFeedPage() -> impl IntoView {
    let params = use_params_map();
    let view_query = use_view_query();
    let source = Memo::new(move |_| Source::Instance {
        tenant: view_query.read().get("tenant").map(str::to_owned),
        id: params.read().get("id").unwrap_or_default(),
    });
    view! { <Feed source=source title="Instance history" view_query=view_query/> }
}

#[component]
fn Feed(source: Memo<Source>, title: &'static str, view_query: Memo<ViewQuery>) -> impl IntoView {
    let category = Memo::new(move |_| view_query.read().get("category").map(str::to_owned));
    // The tenant's catalog: its packs' and own categories become pills too.
    let catalog = LocalResource::new(move || {
        let src = source.get();
        async move {
            match src {
                Source::Tenant { tenant } => crate::api::catalog(tenant).await.ok(),
                Source::Instance { .. } => None,
            }
        }
    });
    // Every filter applies to both feeds; an instance's feed is its instance's.
    let filter = Memo::new(move |_| {
        let f = view_query.read().filter(chrono::Utc::now());
        match source.get() {
            Source::Tenant { .. } => f,
            Source::Instance { .. } => FeedFilter {
                instance_id: None,
                ..f
            },
        }
    });
    let filtered = Memo::new(move |_| filter.get() != FeedFilter::default());

    let entries = RwSignal::new(Vec::<Entry>::new());
    let next_cursor = RwSignal::new(None::<i64>);
    let tenant_name = RwSignal::new(String::new());
    let status = RwSignal::new(Status::Loading);
    // Answers to superseded requests (the filter changed meanwhile) are dropped.
    let generation = StoredValue::new(0u64);
    // Where the reader was when they left this view (Back returns there).
    let place_key =
        Memo::new(move |_| format!("{}{}", source.read().path(), view_query.read().href("")));
    let restoring = StoredValue::new(None::<super::place::Place>);

    let fetch = move |cursor: Option<i64>| {
        let filter = filter.get_untracked();
        let src = source.get_untracked();
        let ticket = generation.get_value();
        spawn_local(async move {
            let mut cursor = cursor;
            loop {
                let result = src.clone().fetch(filter.clone(), cursor).await;
                if generation.get_value() != ticket {
                    return;
                }
                match result {
                    Ok(page) => {
                        tenant_name.set(page.tenant_name);
                        next_cursor.set(page.next_cursor);
                        if cursor.is_some() {
                            entries.update(|e| e.extend(page.entries));
                        } else {
                            entries.set(page.entries);
                        }
                        // Coming back: load as far as the reader had, then scroll there.
                        if let Some(place) = restoring.get_value() {
                            if entries.read_untracked().len() < place.loaded
                                && page.next_cursor.is_some()
                            {
                                cursor = page.next_cursor;
                                continue;
                            }
                            restoring.set_value(None);
                            status.set(Status::Ready);
                            super::place::scroll_to(place.scroll);
                            return;
                        }
                        status.set(Status::Ready);
                    }
                    Err(e) => status.set(Status::Failed(e)),
                }
                return;
            }
        });
    };

    Effect::new(move |_| {
        filter.track();
        source.track();
        generation.update_value(|g| *g += 1);
        // A reversed custom range is explained at its field; nothing is asked for.
        if let Some(why) = view_query.read_untracked().range_error() {
            status.set(Status::Waiting(format!(
                "Fix the timeframe above to see entries. {why}"
            )));
            return;
        }
        restoring.set_value(super::place::take(&place_key.get_untracked()));
        status.set(Status::Loading);
        fetch(None);
    });
    // Leaving by a link (an entry's details, a narrowing link) remembers the place.
    let remember = move || {
        super::place::keep(&place_key.get_untracked(), entries.read_untracked().len());
    };

    let load_more = move |_| {
        if let Some(cursor) = next_cursor.get_untracked() {
            status.set(Status::LoadingMore);
            fetch(Some(cursor));
        }
    };
    let heading = move || match source.get() {
        Source::Instance { .. } => entries
            .read()
            .iter()
            .find_map(|e| e.instance.as_ref().map(|i| format!("{title}: {}", i.name)))
            .unwrap_or_else(|| title.to_owned()),
        Source::Tenant { .. } => title.to_owned(),
    };

    // The title names the page and its filters.
    Effect::new(move |_| {
        let chips: Vec<String> = view_query
            .read()
            .chips()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let mut title = heading();
        if !chips.is_empty() {
            title = format!("{title} · {}", chips.join(", "));
        }
        super::set_title(&title);
    });
    // Only changes when the answer turns into (or out of) a refusal, so the
    // controls are not rebuilt on every load.
    let refused = Memo::new(move |_| {
        matches!(
            status.get(),
            Status::Failed(
                AppError::Forbidden(_) | AppError::NotFound(_) | AppError::Unauthorized(_)
            )
        )
    });
    // The histogram and the facets of this view.
    let summary = LocalResource::new(move || {
        let src = source.get();
        let filter = filter.get();
        let waiting = view_query.read().range_error().is_some();
        async move {
            if waiting {
                return None;
            }
            let (tenant, instance) = match src {
                Source::Tenant { tenant } => (tenant, None),
                Source::Instance { tenant, id } => (tenant, Some(id)),
            };
            feed_summary(tenant, instance, filter).await.ok()
        }
    });
    let people = LocalResource::new(move || {
        let tenant_wide = matches!(source.get(), Source::Tenant { .. });
        async move {
            if tenant_wide {
                crate::api::users(None).await.unwrap_or_default()
            } else {
                Vec::new()
            }
        }
    });
    let places = LocalResource::new(move || {
        let tenant = match source.get() {
            Source::Tenant { tenant } | Source::Instance { tenant, .. } => tenant,
        };
        async move { instances(tenant).await.unwrap_or_default() }
    });
    // What the search box can complete.
    let vocabulary = Signal::derive(move || {
        let mut v: Vec<Suggestion> = Vec::new();
        let mut add = |f: Field, value: &str, label: &str| {
            if !v.iter().any(|(g, x, _)| *g == f && x == value) {
                v.push((f, value.to_owned(), label.to_owned()));
            }
        };
        for a in Action::ALL {
            add(Field::Action, a.as_str(), a.as_str());
        }
        match catalog.get().flatten() {
            Some(c) => {
                for (slug, label) in &c.categories {
                    add(Field::Category, slug, label);
                }
                for t in &c.types {
                    add(Field::Event, t.name.as_str(), t.name.as_str());
                }
            }
            None => {
                for c in Category::ALL {
                    add(Field::Category, c.as_str(), c.label());
                }
                for t in crate::catalog::EventType::ALL {
                    add(Field::Event, t.as_str(), t.as_str());
                }
            }
        }
        add(Field::Actor, "system", "System");
        for u in people.get().unwrap_or_default() {
            add(
                Field::Actor,
                &u.email,
                u.name.as_deref().unwrap_or(&u.email),
            );
        }
        if let Some(Some(s)) = summary.get() {
            for f in &s.facets {
                if f.field == "actor" && f.value != "system" {
                    add(Field::Actor, &f.label, &f.label);
                }
            }
        }
        for i in places.get().unwrap_or_default() {
            add(Field::Instance, &i.name, &i.name);
        }
        add(Field::Source, "stele", "Stele itself");
        let today = chrono::Local::now().date_naive();
        for (days, label) in [
            (0, "today"),
            (1, "yesterday"),
            (7, "a week ago"),
            (30, "30 days ago"),
        ] {
            let d = (today - chrono::Duration::days(days))
                .format("%Y-%m-%d")
                .to_string();
            add(Field::After, &d, label);
            add(Field::Before, &d, label);
        }
        v
    });
    // Relative or absolute times, as this browser last chose.
    let absolute = RwSignal::new(false);
    Effect::new(move |_| absolute.set(super::time::absolute_remembered()));
    provide_context(TimeStyle(absolute));
    provide_context(Narrow {
        path: Memo::new(move |_| source.read().path()),
        view_query,
        instance_page: Memo::new(move |_| matches!(source.get(), Source::Instance { .. })),
    });
    let keys = super::keys::FeedKeys::install();
    view! {
        <section class="feed" on:click=move |ev| {
            if super::place::is_link_click(&ev) {
                remember();
            }
        }>
            <header class="feed-head">
                <div class="title">
                    <h1>{heading}</h1>
                    <p class="subtitle">{move || tenant_name.get()}</p>
                </div>
                {move || (!refused.get()).then(|| view! {
                    <p class="times">
                        {format!("Times are your local time ({}). ", super::time::zone_name())}
                        <button type="button" class="linkish" aria-pressed=move || absolute.get().to_string()
                            on:click=move |_| {
                                let now_absolute = !absolute.get_untracked();
                                absolute.set(now_absolute);
                                super::time::remember_absolute(now_absolute);
                            }>
                            {move || if absolute.get() { "Show relative times" } else { "Show exact times" }}
                        </button>
                        <span class="keys">" · Keys: j/k move, Enter opens"</span>
                        {matches!(source.get(), Source::Tenant { .. }).then(|| view! {
                            <span class="export-links">" · Export this view: "
                                <a download href=move || view_query.read().export_href("csv", chrono::Utc::now())>"CSV"</a>
                                " · "
                                <a download href=move || view_query.read().export_href("ndjson", chrono::Utc::now())>"NDJSON"</a>
                            </span>
                        })}
                    </p>
                })}
            </header>
            {move || {
                // Refused outright (no right to this feed): one explanation, no controls.
                if refused.get() {
                    return None;
                }
                let src = source.get();
                let tenant_wide = matches!(src, Source::Tenant { .. });
                let mut pills = src.pills();
                if let Some(Some(c)) = catalog.get() {
                    for (slug, label) in c.categories {
                        if !pills.iter().any(|(s, _)| *s == slug) {
                            pills.push((slug, label));
                        }
                    }
                }
                let instance_tools = (!tenant_wide).then(|| view! {
                    <div class="instance-tools">
                        <QueryBox path=src.path() view_query=view_query vocabulary=vocabulary/>
                        <div class="filters"><TimeframeSelect path=src.path() view_query=view_query/></div>
                        <Chips path=src.path() view_query=view_query/>
                    </div>
                });
                Some(view! {
                    <Pills active=category path=src.path() pills=pills view_query=view_query/>
                    {instance_tools}
                    {tenant_wide.then(|| view! {
                        <FilterBar path="/audit" view_query=view_query vocabulary=vocabulary/>
                        <super::integrity::IntegrityPanel tenant=view_query.get_untracked().get("tenant").map(str::to_owned)/>
                    })}
                })
            }}
            <div class="feed-body" class:refused=refused>
                <div class="feed-main">
                    {move || (!refused.get()).then(|| view! {
                        {move || summary.get().flatten().map(|s| view! {
                            <super::activity::Activity summary=s path=source.get_untracked().path() view_query=view_query/>
                        })}
                    })}
                    <p class="sr-only" aria-live="polite" data-testid="announce">{move || match status.get() {
                        Status::Loading => "Loading entries".to_owned(),
                        Status::Ready => match entries.read().len() {
                            0 => "No entries match".to_owned(),
                            n if next_cursor.read().is_some() => format!("{n} entries shown, more can be loaded"),
                            n => format!("{n} entries shown"),
                        },
                        Status::Failed(e) => e.to_string(),
                        Status::Waiting(w) => w,
                        Status::LoadingMore => "Loading more entries".to_owned(),
                    }}</p>
                    {move || match status.get() {
                        // A new filter's answer is on its way: the previous results stay, dimmed.
                        Status::Loading if !entries.read().is_empty() => view! {
                            <p class="state loading-note" role="status">"Loading entries…"</p>
                            <div class="stale" aria-busy="true"><FeedList entries=entries filtered=filtered keys=keys/></div>
                        }.into_any(),
                        Status::Loading => view! { <p class="state" role="status">"Loading entries…"</p> }.into_any(),
                        Status::Failed(e) => view! { <ErrorState error=e/> }.into_any(),
                        Status::Waiting(why) => view! { <p class="state state-empty">{why}</p> }.into_any(),
                        Status::Ready | Status::LoadingMore => view! {
                            <FeedList entries=entries filtered=filtered keys=keys/>
                        }.into_any(),
                    }}
                    <Show when=move || next_cursor.get().is_some() && matches!(status.get(), Status::Ready | Status::LoadingMore)>
                        <button
                            class="load-more"
                            on:click=load_more
                            disabled=move || status.get() == Status::LoadingMore
                        >
                            {move || if status.get() == Status::LoadingMore { "Loading…" } else { "Load more" }}
                        </button>
                    </Show>
                </div>
                {move || (!refused.get()).then(|| view! {
                    <aside class="facets" aria-label="Top in this view">
                        {move || summary.get().flatten().map(|s| view! {
                            <Facets summary=s path=source.get_untracked().path() view_query=view_query/>
                        })}
                    </aside>
                })}
            </div>
        </section>
    }
}

/// The view's most frequent actors, instances and event types; each adds its filter.
#[component]
fn Facets(summary: ViewSummary, path: String, view_query: Memo<ViewQuery>) -> impl IntoView {
    let groups = [
        ("actor", "Top actors"),
        ("instance_id", "Top instances"),
        ("event_type", "Top event types"),
    ];
    let capped = summary.sampled >= u64::from(crate::api::FACET_SAMPLE);
    let facets = summary.facets;
    view! {
        {groups.into_iter().filter_map(|(field, heading)| {
            let items: Vec<_> = facets.iter().filter(|f| f.field == field).cloned().collect();
            (!items.is_empty()).then(|| view! {
                <section class="facet" data-facet=field>
                    <h2>{heading}</h2>
                    <ul>
                        {items.into_iter().map(|f| {
                            let href = view_query.get_untracked().with(&f.field, &f.value).href(&path);
                            let active = view_query.get_untracked().get(&f.field) == Some(f.value.as_str());
                            view! {
                                <li class:active=active>
                                    <a href=href title=format!("Only entries with {}", super::visible(&f.label))>
                                        <span class="facet-label">{super::visible(&f.label)}</span>
                                        <span class="facet-count">{f.count}</span>
                                    </a>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </section>
            })
        }).collect_view()}
        {capped.then(|| view! { <p class="hint">{format!("Counted over the newest {} entries of this view.", crate::api::FACET_SAMPLE)}</p> })}
    }
}

#[component]
fn Pills(
    active: Memo<Option<String>>,
    path: String,
    pills: Vec<(String, String)>,
    view_query: Memo<ViewQuery>,
) -> impl IntoView {
    let pill = move |label: String, value: Option<String>| {
        let path = path.clone();
        let slug = value.clone().unwrap_or_default();
        // Keep the other filters (and a super admin's `tenant`).
        let href = move || view_query.read().with("category", &slug).href(&path);
        let (v1, v2) = (value.clone(), value);
        view! {
            <a
                class="pill"
                class:active=move || active.get() == v1
                aria-current=move || (active.get() == v2).then_some("page")
                href=href
            >
                {label}
            </a>
        }
    };
    view! {
        <nav class="pills" aria-label="Filter by category">
            {pill("All".to_owned(), None)}
            {pills.into_iter().map(|(slug, label)| pill(label, Some(slug))).collect_view()}
        </nav>
    }
}

#[component]
fn FeedList(
    entries: RwSignal<Vec<Entry>>,
    filtered: Memo<bool>,
    keys: super::keys::FeedKeys,
) -> impl IntoView {
    move || {
        let list = entries.get();
        if list.is_empty() {
            let why = if filtered.get() {
                "No entries match these filters. Remove a filter to see more."
            } else {
                "Nothing has been recorded here yet."
            };
            return view! { <p class="state state-empty">{why}</p> }.into_any();
        }
        let now = chrono::Utc::now();
        let today = super::time::local_day(now);
        // A heading wherever the local day changes, newest first.
        let mut previous = None;
        let mut rows = Vec::with_capacity(list.len());
        for e in list {
            let day = super::time::local_day(e.occurred_at);
            let separator = (previous != Some(day)).then(|| {
                view! { <li class="day"><h2>{super::time::day_label(day, today)}</h2></li> }
            });
            previous = Some(day);
            rows.push(view! { {separator}<EntryRow entry=e now=now/> });
        }
        view! { <ol class="entries" aria-label="Entries" on:keydown=move |ev| keys.on_list_key(&ev)>{rows}</ol> }.into_any()
    }
}

/// The exact times on hover: when it happened and, if later, when Stele recorded it.
fn time_title(entry: &Entry) -> String {
    if entry.occurred_at == entry.recorded_at {
        exact_title(entry.occurred_at)
    } else {
        format!(
            "{} (recorded {})",
            exact_title(entry.occurred_at),
            exact_title(entry.recorded_at)
        )
    }
}

/// Whether the feed shows absolute times (provided by the feed to its rows).
#[derive(Clone, Copy)]
struct TimeStyle(RwSignal<bool>);

/// Where a row's links narrow to: the feed's own view with one more filter.
#[derive(Clone, Copy)]
pub struct Narrow {
    path: Memo<String>,
    view_query: Memo<ViewQuery>,
    instance_page: Memo<bool>,
}

impl Narrow {
    /// The current view with these filters added (replacing the same keys).
    fn href(&self, pairs: &[(&str, &str)]) -> String {
        let mut q = self.view_query.get_untracked();
        for (k, v) in pairs {
            q = q.with(k, v);
        }
        q.href(&self.path.get_untracked())
    }
}

/// The actor's value for the `actor` filter: its id, or `system`.
pub fn actor_value(entry: &Entry) -> String {
    match (&entry.actor.kind, &entry.actor.id) {
        (ActorKind::System, _) | (_, None) => "system".to_owned(),
        (_, Some(id)) => id.clone(),
    }
}

/// The `source` filter's value of an entry: its key's id, or `stele`.
pub fn source_value(entry: &Entry) -> Option<String> {
    let source = entry.source.as_ref()?;
    match source.kind {
        crate::entry::SourceKind::ApiKey => source.id.clone(),
        crate::entry::SourceKind::Stele => Some("stele".to_owned()),
    }
}

/// "3 fields: display_name, registrar, codec…": what a row changed, in a line.
pub fn changes_summary(entry: &Entry) -> Option<String> {
    let n = entry.changes.len();
    if n == 0 {
        return None;
    }
    let paths: Vec<&str> = entry
        .changes
        .iter()
        .take(3)
        .map(|c| c.path.as_str())
        .collect();
    let more = if n > 3 { ", …" } else { "" };
    Some(format!(
        "{n} field{}: {}{more}",
        if n == 1 { "" } else { "s" },
        paths.join(", ")
    ))
}

/// A person's name without their address ("Jane Doe" of "Jane Doe <jane@x>"); a
/// label that is only an address stays whole.
fn short_label(label: &str) -> &str {
    match label.strip_suffix('>').and_then(|l| l.rsplit_once(" <")) {
        Some((name, _)) if !name.trim().is_empty() => name,
        _ => label,
    }
}

#[component]
pub fn EntryRow(entry: Entry, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let open = RwSignal::new(false);
    let changes = entry.changes.clone();
    let count = changes.len();
    let category = entry.category().to_string();
    let is_system = entry.actor.kind == ActorKind::System;
    // The detail page's back link returns to this very view, filters and all.
    let location = leptos_router::hooks::use_location();
    let id = entry.id;
    let details_href = move || {
        let here = format!(
            "{}{}",
            location.pathname.get(),
            location.query.get().to_query_string()
        );
        format!("/entries/{id}?back={}", super::filters::encode(&here))
    };
    let occurred = entry.occurred_at;
    let absolute = use_context::<TimeStyle>().map_or_else(|| RwSignal::new(false), |t| t.0);
    let narrow = use_context::<Narrow>();
    let link = move |pairs: &[(&str, &str)]| narrow.map(|n| n.href(pairs));
    let actor = actor_value(&entry);
    let on_instance_page = narrow.is_some_and(|n| n.instance_page.get_untracked());
    let instance = entry.instance.clone().map(|i| {
        let name = super::visible(&i.name);
        if on_instance_page {
            view! { <span class="instance">{name}</span> }.into_any()
        } else {
            view! { <a class="instance" href=link(&[("instance_id", &i.id)]) title="Only this instance">{name}</a> }.into_any()
        }
    });
    let targets: Vec<_> = entry.targets().cloned().collect();
    let source = source_value(&entry).map(|value| {
        let label = match &entry.source {
            Some(s) if s.kind == crate::entry::SourceKind::ApiKey => format!("via key {}", super::visible(&s.name)),
            _ => "via Stele".to_owned(),
        };
        view! { <a class="source" href=link(&[("source", &value)]) title="Everything this source wrote">{label}</a> }
    });
    let description = super::visible(&entry.description);
    view! {
        <li class="entry" class:open=open data-seq=entry.seq data-category=category.clone() tabindex="-1">
            <div class="line">
                <time datetime=crate::canonical::format_time(&entry.occurred_at) title=time_title(&entry)>
                    {move || super::time::shown(occurred, now, absolute.get())}
                </time>
                <a class="actor" class:system=is_system href=link(&[("actor", &actor)])
                    title=format!("Only {}", super::visible(&entry.actor.label))>
                    {super::visible(short_label(&entry.actor.label))}
                </a>
                <a class=format!("badge cat-{category}") href=link(&[("event_type", entry.event_type.as_str())]) title="Only this event type">
                    {entry.event_type.to_string()}
                </a>
                {instance}
                <span class="description" title=description.clone()>{description.clone()}</span>
            </div>
            <div class="line meta">
                <a class="category" href=link(&[("category", &category)]) title="Only this category">{entry.category().label()}</a>
                {targets.into_iter().map(|t| {
                    let text = super::visible(&format!("{} {}", t.kind, t.name.as_deref().unwrap_or(&t.id)));
                    view! { <a class="target" href=link(&[("target_kind", &t.kind), ("target_id", &t.id)]) title="Only this resource">{text}</a> }
                }).collect_view()}
                {source}
                {changes_summary(&entry).map(|s| view! { <span class="summary">{s}</span> })}
                {(count > 0).then(|| view! {
                    <button
                        class="expander"
                        aria-expanded=move || open.get().to_string()
                        on:click=move |_| open.update(|o| *o = !*o)
                    >
                        {move || if open.get() { "Hide changes" } else { "Show changes" }}
                        {format!(" ({count})")}
                    </button>
                })}
                <a class="details" href=details_href>"Details"</a>
            </div>
            {move || open.get().then(|| view! {
                <p class="full-description">{description.clone()}</p>
                <DiffTable changes=changes.clone()/>
            })}
        </li>
    }
}

/// The instances whose history the caller may read. A super admin, who belongs to
/// no tenant, first chooses one (`?tenant=slug`).
#[component]
pub fn InstancesPage() -> impl IntoView {
    super::set_title("Instances");
    let view_query = super::filters::use_view_query();
    let tenant = Memo::new(move |_| view_query.read().get("tenant").map(str::to_owned));
    let auth = expect_context::<super::Auth>();
    let super_admin = Memo::new(move |_| auth.0.get().flatten().is_some_and(|me| me.super_admin));
    let list = LocalResource::new(move || {
        let (tenant, choose) = (tenant.get(), super_admin.get());
        async move {
            match (tenant, choose) {
                (None, true) => Ok(None),
                (t, _) => instances(t).await.map(Some),
            }
        }
    });
    view! {
        <section>
            <h1>"Instances"</h1>
            <Show when=move || super_admin.get()>
                <TenantChooser path="/instances" chosen=tenant/>
            </Show>
            <Suspense fallback=|| view! { <p class="state" role="status">"Loading instances…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    Ok(None) => view! {
                        <p class="state state-empty">"Choose a tenant to see its instances."</p>
                    }.into_any(),
                    Ok(Some(items)) if items.is_empty() => view! {
                        <p class="state state-empty">"You have no access to any instance yet. Ask an admin of your MSP for a grant."</p>
                    }.into_any(),
                    Ok(Some(items)) => view! { <InstanceList items=items tenant=tenant.get_untracked()/> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

/// A super admin's choice of tenant, kept in the URL as `?tenant=slug`.
#[component]
pub fn TenantChooser(path: &'static str, chosen: Memo<Option<String>>) -> impl IntoView {
    let all = LocalResource::new(crate::api::tenants);
    let navigate = leptos_router::hooks::use_navigate();
    view! {
        <label class="inline tenant-chooser">"Tenant"
            <select aria-label="Tenant" prop:value=move || chosen.get().unwrap_or_default()
                on:change=move |ev| {
                    let slug = event_target_value(&ev);
                    let q = super::filters::ViewQuery::default().with("tenant", &slug);
                    navigate(&q.href(path), Default::default());
                }>
                <option value="">"Choose a tenant"</option>
                {move || all.get().and_then(Result::ok).unwrap_or_default().into_iter().map(|(slug, name)| {
                    view! { <option value=slug.clone()>{super::visible(&name)}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

#[component]
fn InstanceList(items: Vec<InstanceView>, tenant: Option<String>) -> impl IntoView {
    let suffix = tenant.map_or_else(String::new, |t| {
        format!("?tenant={}", super::filters::encode(&t))
    });
    view! {
        <ul class="instances">
            {items.into_iter().map(|i| view! {
                <li class="instance-card" class:deleted=i.deleted>
                    <span class="name">{super::visible(&i.name)}</span>
                    {i.deleted.then(|| view! { <span class="tag">"deleted"</span> })}
                    <a href=format!("/instances/{}{suffix}", i.id)>"View history"</a>
                </li>
            }).collect_view()}
        </ul>
    }
}
