//! The tenant feed and the instance feeds: newest first, category pills kept in the
//! URL, "Load more" by keyset cursor, a diff expander on every entry that changed
//! something. Both pages share [`Feed`]; the server gates each.

use super::diff::DiffTable;
use super::time::{relative, utc_title};
use super::ErrorState;
use crate::api::{
    instance_feed, instances, tenant_feed, AppError, FeedFilter, FeedPage, InstanceView,
};
use crate::catalog::Category;
use crate::entry::{ActorKind, Entry};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_params_map, use_query_map};

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Loading,
    Ready,
    LoadingMore,
    Failed(AppError),
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

    fn pills(&self) -> Vec<Category> {
        match self {
            Source::Tenant { .. } => Category::ALL.to_vec(),
            Source::Instance { .. } => Category::INSTANCE_PILLS.to_vec(),
        }
    }
}

#[component]
pub fn TenantFeedPage() -> impl IntoView {
    let query = use_query_map();
    let source = Memo::new(move |_| Source::Tenant {
        tenant: query.read().get("tenant"),
    });
    view! { <Feed source=source title="Tenant feed"/> }
}

#[component]
pub fn InstanceFeedPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let source = Memo::new(move |_| Source::Instance {
        tenant: query.read().get("tenant"),
        id: params.read().get("id").unwrap_or_default(),
    });
    view! { <Feed source=source title="Instance history"/> }
}

#[component]
fn Feed(source: Memo<Source>, title: &'static str) -> impl IntoView {
    let query = use_query_map();
    let category = Memo::new(move |_| {
        query
            .read()
            .get("category")
            .and_then(|c| c.parse::<Category>().ok())
    });

    let entries = RwSignal::new(Vec::<Entry>::new());
    let next_cursor = RwSignal::new(None::<i64>);
    let tenant_name = RwSignal::new(String::new());
    let status = RwSignal::new(Status::Loading);
    // Answers to superseded requests (the filter changed meanwhile) are dropped.
    let generation = StoredValue::new(0u64);

    let fetch = move |cursor: Option<i64>| {
        let filter = FeedFilter {
            category: category.get_untracked(),
            ..FeedFilter::default()
        };
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
        category.track();
        source.track();
        generation.update_value(|g| *g += 1);
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

    view! {
        <section class="feed">
            <header class="feed-head">
                <h1>{heading}</h1>
                <p class="subtitle">{move || tenant_name.get()}</p>
            </header>
            {move || {
                let src = source.get();
                view! { <Pills active=category path=src.path() pills=src.pills()/> }
            }}
            {move || match status.get() {
                Status::Loading => view! { <p class="state" role="status">"Loading entries…"</p> }.into_any(),
                Status::Failed(e) => view! { <ErrorState error=e/> }.into_any(),
                Status::Ready | Status::LoadingMore => view! {
                    <FeedList entries=entries category=category/>
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
fn Pills(active: Memo<Option<Category>>, path: String, pills: Vec<Category>) -> impl IntoView {
    let query = use_query_map();
    let pill = move |label: &'static str, value: Option<Category>| {
        // Keep the other query parameters (e.g. a super admin's `tenant`).
        let mut params: Vec<(String, String)> = query
            .read_untracked()
            .clone()
            .into_iter()
            .filter(|(k, _)| k != "category")
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if let Some(c) = value {
            params.push(("category".to_owned(), c.as_str().to_owned()));
        }
        let qs = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let href = if qs.is_empty() {
            path.clone()
        } else {
            format!("{path}?{qs}")
        };
        view! {
            <a
                class="pill"
                class:active=move || active.get() == value
                aria-current=move || (active.get() == value).then_some("page")
                href=href
            >
                {label}
            </a>
        }
    };
    view! {
        <nav class="pills" aria-label="Filter by category">
            {pill("All", None)}
            {pills.into_iter().map(|c| pill(c.label(), Some(c))).collect_view()}
        </nav>
    }
}

#[component]
fn FeedList(entries: RwSignal<Vec<Entry>>, category: Memo<Option<Category>>) -> impl IntoView {
    move || {
        let list = entries.get();
        if list.is_empty() {
            let why = match category.get() {
                Some(c) => format!("No {} entries have been recorded here yet.", c.label()),
                None => "Nothing has been recorded here yet.".to_owned(),
            };
            return view! { <p class="state state-empty">{why}</p> }.into_any();
        }
        let now = chrono::Utc::now();
        view! {
            <ol class="entries">
                {list.into_iter().map(|e| view! { <EntryRow entry=e now=now/> }).collect_view()}
            </ol>
        }
        .into_any()
    }
}

/// The exact times on hover: when it happened and, if later, when Stele recorded it.
fn time_title(entry: &Entry) -> String {
    if entry.occurred_at == entry.recorded_at {
        utc_title(entry.occurred_at)
    } else {
        format!(
            "{} (recorded {})",
            utc_title(entry.occurred_at),
            utc_title(entry.recorded_at)
        )
    }
}

#[component]
pub fn EntryRow(entry: Entry, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let open = RwSignal::new(false);
    let changes = entry.changes.clone();
    let count = changes.len();
    let category = entry.category();
    let is_system = entry.actor.kind == ActorKind::System;
    view! {
        <li class="entry" data-seq=entry.seq data-category=category.as_str()>
            <div class="entry-meta">
                <time datetime=crate::canonical::format_time(&entry.occurred_at) title=time_title(&entry)>
                    {relative(entry.occurred_at, now)}
                </time>
                <span class="actor" class:system=is_system>"by " {entry.actor.label.clone()}</span>
                {entry.instance.clone().map(|i| view! { <span class="instance">{i.name}</span> })}
                <span class=format!("badge cat-{}", category.as_str())>{entry.event_type.as_str()}</span>
            </div>
            <p class="description">{entry.description.clone()}</p>
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
                    <span class="name">{i.name.clone()}</span>
                    {i.deleted.then(|| view! { <span class="tag">"deleted"</span> })}
                    <a href=format!("/instances/{}", i.id)>"View history"</a>
                </li>
            }).collect_view()}
        </ul>
    }
}
