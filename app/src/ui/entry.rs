//! An entry's own page, `/entries/{id}`: overview, the diff side by side, metadata,
//! context and the entry's place in its tenant's chain. A link anyone with access to
//! the entry's feed can open; the server decides.

use super::diff::DiffTable;
use super::time::{local, relative, utc_title};
use super::ErrorState;
use crate::api::{get_entry, AppError, EntryDetail};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

#[component]
pub fn EntryPage() -> impl IntoView {
    super::set_title("Entry details");
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| Uuid::parse_str(&s).ok())
    });
    let detail = LocalResource::new(move || {
        let id = id.get();
        async move {
            match id {
                Some(id) => get_entry(id).await,
                None => Err(AppError::NotFound(
                    "there is no entry at this address".to_owned(),
                )),
            }
        }
    });
    // Where the reader came from (a feed with its filters), if it is a page of ours.
    let query = leptos_router::hooks::use_query_map();
    let back = Memo::new(move |_| {
        query
            .read()
            .get("back")
            .filter(|b| super::login::is_own_path(b))
    });
    view! {
        <Suspense fallback=|| view! { <p class="state" role="status">"Loading the entry…"</p> }>
            {move || detail.get().map(|r| match r {
                Err(e) => view! { <ErrorState error=e/> }.into_any(),
                Ok(d) => view! { <Detail detail=d back=back.get_untracked()/> }.into_any(),
            })}
        </Suspense>
    }
}

fn row(label: &'static str, value: Option<String>) -> impl IntoView {
    value.map(|v| view! { <dt>{label}</dt><dd>{v}</dd> })
}

/// Every resource the entry names, each with a link to its history in the tenant
/// feed (which matches it wherever it stands in an entry's targets).
fn targets(e: &crate::entry::Entry, tenant_slug: &str) -> impl IntoView {
    let list: Vec<_> = e.targets().cloned().collect();
    let label = if list.len() > 1 { "Targets" } else { "Target" };
    let slug = tenant_slug.to_owned();
    (!list.is_empty()).then(|| {
        view! {
            <dt>{label}</dt>
            <dd><ul class="targets">
                {list.into_iter().map(|t| {
                    let text = match &t.name {
                        Some(n) => super::visible(&format!("{} {} ({})", t.kind, n, t.id)),
                        None => super::visible(&format!("{} {}", t.kind, t.id)),
                    };
                    let href = super::filters::ViewQuery::default()
                        .with("tenant", &slug)
                        .with("target_kind", &t.kind)
                        .with("target_id", &t.id)
                        .href("/audit");
                    view! { <li>{text}" "<a class="history" href=href>"View history"</a></li> }
                }).collect_view()}
            </ul></dd>
        }
    })
}

#[component]
fn Detail(detail: EntryDetail, back: Option<String>) -> impl IntoView {
    let e = detail.entry;
    let now = chrono::Utc::now();
    let category = e.category().clone();
    let category_label = detail.category_label.clone();
    let back = back.unwrap_or_else(|| match &e.instance {
        Some(i) => format!("/instances/{}?tenant={}", i.id, detail.tenant_slug),
        None => format!("/audit?tenant={}", detail.tenant_slug),
    });
    // Each fact links to the view it came from (a feed), narrowed to that fact.
    let base = back.split('?').next().unwrap_or("/audit").to_owned();
    let on_instance = base.starts_with("/instances/");
    let slug = detail.tenant_slug.clone();
    let narrow = move |key: &str, value: &str| {
        super::filters::ViewQuery::default()
            .with("tenant", &slug)
            .with(key, value)
            .href(&base)
    };
    let actor_href = narrow("actor", &super::feed::actor_value(&e));
    let type_href = narrow("event_type", e.event_type.as_str());
    let category_href = narrow("category", category.as_str());
    let instance_href = e
        .instance
        .as_ref()
        .filter(|_| !on_instance)
        .map(|i| narrow("instance_id", &i.id));
    let source_href = super::feed::source_value(&e).map(|v| narrow("source", &v));
    let metadata = (!e.metadata.is_empty())
        .then(|| serde_json::to_string_pretty(&e.metadata).unwrap_or_default());
    let changes = e.changes.clone();
    // Recomputed here, in the browser, with the same code the server uses.
    let digest = crate::canonical::entry_digest(&e);
    let prev: Option<[u8; 32]> = hex::decode(&e.prev_hash)
        .ok()
        .and_then(|b| b.try_into().ok());
    let verified = hex::encode(digest) == e.entry_digest
        && prev.is_some_and(|p| hex::encode(crate::canonical::chain_hash(&p, &digest)) == e.hash);
    view! {
        <article class="entry-detail" data-seq=e.seq>
            <p class="crumbs"><a href=back>"← Back to the feed"</a></p>
            <header class="feed-head">
                <h1>{super::visible(&e.description)}</h1>
                <p class="subtitle">{detail.tenant_name}</p>
            </header>
            <section aria-labelledby="overview">
                <h2 id="overview">"Overview"</h2>
                <dl class="facts">
                    <dt>"Event"</dt>
                    <dd><a class=format!("badge cat-{}", category.as_str()) href=type_href title="Only this event type">{e.event_type.to_string()}</a>
                        " " <a class="category" href=category_href title="Only this category">{category_label}</a>
                        {format!(" · {}", e.action().as_str())}</dd>
                    <dt>"When"</dt>
                    <dd><time title=utc_title(e.occurred_at)>{local(e.occurred_at)}</time>
                        {format!(" ({})", relative(e.occurred_at, now))}</dd>
                    {row("Recorded", (e.recorded_at != e.occurred_at).then(|| format!("{} local · {}", local(e.recorded_at), utc_title(e.recorded_at))))}
                    <dt>"By"</dt>
                    <dd class="actor"><a href=actor_href title="Only this actor">{super::visible(&e.actor.label)}</a>{format!(" ({})", e.actor.kind.as_str())}</dd>
                    {e.instance.as_ref().map(|i| {
                        let text = super::visible(&format!("{} ({})", i.name, i.id));
                        view! {
                            <dt>"Instance"</dt>
                            <dd>{match instance_href.clone() {
                                Some(h) => view! { <a class="instance" href=h title="Only this instance">{text}</a> }.into_any(),
                                None => view! { <span class="instance">{text}</span> }.into_any(),
                            }}</dd>
                        }
                    })}
                    {targets(&e, &detail.tenant_slug)}
                    {e.source.as_ref().map(|s| {
                        let text = match s.kind {
                            crate::entry::SourceKind::ApiKey => super::visible(&format!(
                                "via key {} ({})", s.name, s.id.clone().unwrap_or_default()
                            )),
                            crate::entry::SourceKind::Stele => "Stele".to_owned(),
                        };
                        view! {
                            <dt>"Source"</dt>
                            <dd><a class="source" href=source_href.clone() title="Everything this source wrote">{text}</a></dd>
                        }
                    })}
                    {row("Idempotency key", e.idempotency_key.clone())}
                </dl>
            </section>
            <section aria-labelledby="changes">
                <h2 id="changes">"Changes"</h2>
                {if changes.is_empty() {
                    view! { <p class="state state-empty">"This entry changed no field."</p> }.into_any()
                } else {
                    view! { <DiffTable changes=changes/> }.into_any()
                }}
            </section>
            {metadata.map(|m| view! {
                <section aria-labelledby="metadata">
                    <h2 id="metadata">"Metadata"</h2>
                    <pre class="json">{m}</pre>
                </section>
            })}
            <section aria-labelledby="context">
                <h2 id="context">"Context"</h2>
                <dl class="facts">
                    {row("IP", e.context.ip.clone())}
                    {row("User agent", e.context.user_agent.clone())}
                    {row("Session", e.context.session_id.clone())}
                    {row("Request", e.context.request_id.clone())}
                </dl>
            </section>
            <section aria-labelledby="chain">
                <h2 id="chain">"Chain position"</h2>
                <dl class="facts chain">
                    <dt>"Seq"</dt><dd class="seq">{e.seq}</dd>
                    <dt>"Entry digest"</dt><dd><code>{e.entry_digest.clone()}</code></dd>
                    <dt>"Previous hash"</dt><dd><code>{e.prev_hash.clone()}</code></dd>
                    <dt>"Hash"</dt><dd><code class="hash">{e.hash.clone()}</code></dd>
                    <dt>"Id"</dt><dd><code>{e.id.to_string()}</code></dd>
                    <dt>"Verification"</dt>
                    <dd class="verification" class:ok=verified class:broken=!verified>{if verified {
                        "✓ checked in your browser: the content matches its digest, and the hash follows from the previous hash"
                    } else {
                        "✗ does not verify: the content or its chain fields were changed"
                    }}</dd>
                </dl>
            </section>
        </article>
    }
}
