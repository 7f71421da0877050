//! The master view (super admins): a cross-tenant table, newest first.

use super::time::{relative, utc_title};
use super::ErrorState;
use crate::api::{master_feed, AppError, FeedFilter, MasterRow};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

#[component]
pub fn MasterPage() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let tenant = Memo::new(move |_| query.read().get("tenant").filter(|t| !t.is_empty()));
    let rows = RwSignal::new(Vec::<MasterRow>::new());
    let tenants = RwSignal::new(Vec::<(String, String)>::new());
    let next = RwSignal::new(None::<Uuid>);
    let error = RwSignal::new(None::<AppError>);
    let loading = RwSignal::new(true);
    let generation = StoredValue::new(0u64);

    let fetch = move |cursor: Option<Uuid>| {
        let ticket = generation.get_value();
        let t = tenant.get_untracked();
        loading.set(true);
        spawn_local(async move {
            let result = master_feed(t, FeedFilter::default(), cursor).await;
            if generation.get_value() != ticket {
                return;
            }
            match result {
                Ok(page) => {
                    tenants.set(page.tenants);
                    next.set(page.next_cursor);
                    if cursor.is_some() {
                        rows.update(|r| r.extend(page.rows));
                    } else {
                        rows.set(page.rows);
                    }
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            loading.set(false);
        });
    };
    Effect::new(move |_| {
        tenant.track();
        generation.update_value(|g| *g += 1);
        fetch(None);
    });
    let choose = move |ev: leptos::ev::Event| {
        let v = event_target_value(&ev);
        let to = if v.is_empty() {
            "/master".to_owned()
        } else {
            format!("/master?tenant={v}")
        };
        navigate(&to, Default::default());
    };

    view! {
        <section class="feed">
            <header class="feed-head">
                <h1>"Master view"</h1>
                <p class="subtitle">"Every tenant's entries, newest first"</p>
            </header>
            <label class="inline">"Tenant "
                <select on:change=choose prop:value=move || tenant.get().unwrap_or_default()>
                    <option value="">"All tenants"</option>
                    {move || tenants.get().into_iter().map(|(slug, name)| view! {
                        <option value=slug.clone()>{name}</option>
                    }).collect_view()}
                </select>
            </label>
            {move || match error.get() {
                Some(e) => view! { <ErrorState error=e/> }.into_any(),
                None if loading.get() && rows.read().is_empty() => view! { <p class="state" role="status">"Loading…"</p> }.into_any(),
                None if rows.read().is_empty() => view! { <p class="state state-empty">"No entries match."</p> }.into_any(),
                None => view! { <MasterTable rows=rows/> }.into_any(),
            }}
            <Show when=move || next.get().is_some() && error.get().is_none()>
                <button class="load-more" disabled=move || loading.get() on:click=move |_| fetch(next.get_untracked())>
                    "Load more"
                </button>
            </Show>
        </section>
    }
}

#[component]
fn MasterTable(rows: RwSignal<Vec<MasterRow>>) -> impl IntoView {
    let now = chrono::Utc::now();
    view! {
        <div class="table-wrap">
            <table class="master">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Tenant"</th>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Instance"</th>
                        <th scope="col">"Description"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || rows.get().into_iter().map(|r| {
                        let e = r.entry;
                        view! {
                            <tr data-tenant=r.tenant_slug.clone()>
                                <td><time title=utc_title(e.occurred_at)>{relative(e.occurred_at, now)}</time></td>
                                <td class="tenant">{r.tenant_name}</td>
                                <td><span class=format!("badge cat-{}", e.category().as_str())>{e.event_type.as_str()}</span></td>
                                <td>{e.actor.label}</td>
                                <td>{e.instance.map(|i| i.name).unwrap_or_default()}</td>
                                <td>{e.description}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
