//! The tenant feed and the instance feeds: newest first, category pills kept in the
//! URL, "Load more" by keyset cursor, a diff expander on every entry that changed
//! something. Both pages share [`Feed`]; the server gates each.

use super::diff::DiffTable;
use super::filters::{use_view_query, FilterBar, SearchBox, TimeframeSelect, ViewQuery};
use super::time::time_title as exact_title;
use super::ErrorState;
use crate::api::{
    instance_feed, instances, tenant_feed, AppError, FeedFilter, FeedPage, InstanceView,
};
use crate::catalog::Category;
use crate::entry::{ActorKind, Entry};
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
    // The instance feed offers only its pills; the tenant feed every filter.
    let filter = Memo::new(move |_| {
        let f = view_query.read().filter(chrono::Utc::now());
        match source.get() {
            Source::Tenant { .. } => f,
            // An instance's feed: its pills, search and timeframe.
            Source::Instance { .. } => FeedFilter {
                category: f.category,
                q: f.q,
                since: f.since,
                until: f.until,
                ..FeedFilter::default()
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

    let fetch = move |cursor: Option<i64>| {
        let filter = filter.get_untracked();
        let src = source.get_untracked();
        let ticket = generation.get_value();
        spawn_local(async move {
            let result = src.fetch(filter, cursor).await;
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
                    status.set(Status::Ready);
                }
                Err(e) => status.set(Status::Failed(e)),
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
        status.set(Status::Loading);
        fetch(None);
    });

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
    // Relative or absolute times, as this browser last chose.
    let absolute = RwSignal::new(false);
    Effect::new(move |_| absolute.set(super::time::absolute_remembered()));
    provide_context(TimeStyle(absolute));
    view! {
        <section class="feed">
            <header class="feed-head">
                <h1>{heading}</h1>
                <p class="subtitle">{move || tenant_name.get()}</p>
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
                        <SearchBox path=src.path() view_query=view_query/>
                        <div class="filters"><TimeframeSelect path=src.path() view_query=view_query/></div>
                    </div>
                });
                Some(view! {
                    <Pills active=category path=src.path() pills=pills view_query=view_query/>
                    {instance_tools}
                    {tenant_wide.then(|| view! {
                        <super::integrity::IntegrityPanel tenant=view_query.get_untracked().get("tenant").map(str::to_owned)/>
                        <FilterBar path="/audit" view_query=view_query/>
                        <p class="export-links">"Export this view: "
                            <a download href=move || view_query.read().export_href("csv", chrono::Utc::now())>"CSV"</a>
                            " · "
                            <a download href=move || view_query.read().export_href("ndjson", chrono::Utc::now())>"NDJSON"</a>
                        </p>
                    })}
                })
            }}
            {move || match status.get() {
                // A new filter's answer is on its way: the previous results stay, dimmed.
                Status::Loading if !entries.read().is_empty() => view! {
                    <p class="state loading-note" role="status">"Loading entries…"</p>
                    <div class="stale" aria-busy="true"><FeedList entries=entries filtered=filtered/></div>
                }.into_any(),
                Status::Loading => view! { <p class="state" role="status">"Loading entries…"</p> }.into_any(),
                Status::Failed(e) => view! { <ErrorState error=e/> }.into_any(),
                Status::Waiting(why) => view! { <p class="state state-empty">{why}</p> }.into_any(),
                Status::Ready | Status::LoadingMore => view! {
                    <FeedList entries=entries filtered=filtered/>
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
        </section>
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
fn FeedList(entries: RwSignal<Vec<Entry>>, filtered: Memo<bool>) -> impl IntoView {
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
                view! { <li class="day" role="presentation"><h2>{super::time::day_label(day, today)}</h2></li> }
            });
            previous = Some(day);
            rows.push(view! { {separator}<EntryRow entry=e now=now/> });
        }
        view! { <ol class="entries">{rows}</ol> }.into_any()
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
    view! {
        <li class="entry" data-seq=entry.seq data-category=category.clone()>
            <div class="entry-meta">
                <time datetime=crate::canonical::format_time(&entry.occurred_at) title=time_title(&entry)>
                    {move || super::time::shown(occurred, now, absolute.get())}
                </time>
                <span class="actor" class:system=is_system>"by " {super::visible(&entry.actor.label)}</span>
                {source_link(&entry)}
                {entry.instance.clone().map(|i| view! { <span class="instance">{super::visible(&i.name)}</span> })}
                <span class=format!("badge cat-{category}")>{entry.event_type.to_string()}</span>
            </div>
            <p class="description">{super::visible(&entry.description)}</p>
            <a class="details" href=details_href>"Details"</a>
            {(count > 0).then(|| view! {
                <button
                    class="expander"
                    aria-expanded=move || open.get().to_string()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    {move || if open.get() { "Hide changes" } else { "Show changes" }}
                    {format!(" ({count})")}
                </button>
                {move || open.get().then(|| view! { <DiffTable changes=changes.clone()/> })}
            })}
        </li>
    }
}

/// The instances whose history the caller may read.
#[component]
pub fn InstancesPage() -> impl IntoView {
    super::set_title("Instances");
    let list = LocalResource::new(|| instances(None));
    view! {
        <section>
            <h1>"Instances"</h1>
            <Suspense fallback=|| view! { <p class="state" role="status">"Loading instances…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    Ok(items) if items.is_empty() => view! {
                        <p class="state state-empty">"You have no access to any instance yet. Ask an admin of your MSP for a grant."</p>
                    }.into_any(),
                    Ok(items) => view! { <InstanceList items=items/> }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn InstanceList(items: Vec<InstanceView>) -> impl IntoView {
    view! {
        <ul class="instances">
            {items.into_iter().map(|i| view! {
                <li class="instance-card" class:deleted=i.deleted>
                    <span class="name">{super::visible(&i.name)}</span>
                    {i.deleted.then(|| view! { <span class="tag">"deleted"</span> })}
                    <a href=format!("/instances/{}", i.id)>"View history"</a>
                </li>
            }).collect_view()}
        </ul>
    }
}

/// "via key PBX sync" for entries a producer's API key wrote, linking to everything
/// that key wrote.
pub fn source_link(entry: &crate::entry::Entry) -> Option<impl IntoView> {
    let source = entry.source.as_ref()?;
    let id = source.id.clone()?;
    (source.kind == crate::entry::SourceKind::ApiKey).then(|| {
        view! {
            <a class="source" href=format!("/audit?source={id}") title="Everything this key wrote">
                "via key " {super::visible(&source.name)}
            </a>
        }
    })
}
