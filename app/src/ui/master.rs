//! The master view (super admins): a cross-tenant table, newest first.

use super::filters::{url_setter, use_view_query, ViewQuery, RANGES};
use super::query_box::QueryBox;
use super::time::{relative, time_title};
use super::ErrorState;
use crate::api::{manual_purge, master_feed, AppError, MasterPage, MasterRow, MASTER_PAGE_SIZES};
use crate::catalog::EventType;
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn MasterPage() -> impl IntoView {
    super::set_title("Master view");
    let view_query = use_view_query();
    let page_no = Memo::new(move |_| {
        view_query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
    });
    let size = Memo::new(move |_| {
        view_query
            .read()
            .get("size")
            .and_then(|p| p.parse::<u32>().ok())
            .filter(|s| MASTER_PAGE_SIZES.contains(s))
            .unwrap_or(50)
    });
    let result = RwSignal::new(None::<Result<MasterPage, AppError>>);
    let generation = StoredValue::new(0u64);
    Effect::new(move |_| {
        let q = view_query.get();
        let (page, size) = (page_no.get(), size.get());
        generation.update_value(|g| *g += 1);
        let ticket = generation.get_value();
        result.set(None);
        // Whatever the search box and the controls say.
        let filter = q.filter(chrono::Utc::now());
        let tenant = q.get("tenant").map(str::to_owned);
        spawn_local(async move {
            let answer = master_feed(tenant, filter, page, size).await;
            if generation.get_value() == ticket {
                result.set(Some(answer));
            }
        });
    });
    let set = url_setter("/master", view_query);
    let value =
        move |key: &'static str| move || view_query.read().get(key).unwrap_or_default().to_owned();
    let tenants = Memo::new(move |_| match result.get() {
        Some(Ok(p)) => p.tenants,
        _ => Vec::new(),
    });

    view! {
        <section class="feed">
            <header class="feed-head">
                <h1>"Master view"</h1>
                <p class="subtitle">"Every tenant's entries, newest first"</p>
            </header>
            <QueryBox path="/master" view_query=view_query vocabulary=Signal::derive(super::query_box::builtin_vocabulary)/>
            <div class="filters">
                <label>"Tenant"
                    <select aria-label="Tenant" on:change=set("tenant") prop:value=value("tenant")>
                        <option value="">"All tenants"</option>
                        {move || tenants.get().into_iter().map(|(slug, name)| view! {
                            <option value=slug.clone()>{name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Event type"
                    <select aria-label="Event type" on:change=set("event_type") prop:value=value("event_type")>
                        <option value="">"Any"</option>
                        {EventType::ALL.iter().map(|t| view! { <option value=t.as_str()>{t.as_str()}</option> }).collect_view()}
                        // And every pack's (a tenant's own types are on its own feed).
                        {crate::packs::pack_type_names().into_iter().map(|n| view! { <option value=n>{n}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Timeframe"
                    <select aria-label="Timeframe" on:change=set("range") prop:value=move || view_query.read().get("range").unwrap_or("all").to_owned()>
                        {RANGES.iter().filter(|(v, _, _)| *v != "custom").map(|(v, l, _)| view! { <option value=*v>{*l}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Page size"
                    <select aria-label="Page size" on:change=set("size") prop:value=move || size.get().to_string()>
                        {MASTER_PAGE_SIZES.iter().map(|s| view! { <option value=s.to_string()>{s.to_string()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <ManualPurge tenants=tenants/>
            {move || match result.get() {
                None => view! { <p class="state" role="status">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <ErrorState error=e/> }.into_any(),
                Some(Ok(p)) if p.rows.is_empty() => view! {
                    <p class="state state-empty">{if p.page > 1 { "There are no entries on this page." } else { "No entries match." }}</p>
                }.into_any(),
                Some(Ok(p)) => {
                    let count = if p.total_exact {
                        format!("{} entries", p.total)
                    } else {
                        format!("more than {} entries", p.total)
                    };
                    let pager = Pager { page: p.page, size: p.page_size, total: p.total, exact: p.total_exact };
                    view! {
                        <p class="count" role="status">{count}</p>
                        <MasterTable rows=p.rows/>
                        <PageLinks pager=pager view_query=view_query/>
                    }.into_any()
                }
            }}
        </section>
    }
}

/// A super admin's manual purge, behind an explicit confirmation.
#[component]
fn ManualPurge(tenants: Memo<Vec<(String, String)>>) -> impl IntoView {
    let tenant = RwSignal::new(String::new());
    let days = RwSignal::new("365".to_owned());
    let confirm = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (t, c) = (tenant.get_untracked(), confirm.get_untracked());
        let Ok(d) = days.get_untracked().trim().parse::<u32>() else {
            outcome.set(Some(Err("older than: a whole number of days".to_owned())));
            return;
        };
        spawn_local(async move {
            outcome.set(Some(
                manual_purge(t, d, c)
                    .await
                    .map(|o| match (o.from_seq, o.to_seq) {
                        (Some(a), Some(b)) => {
                            format!("Purged the content of {} entries (seq {a}–{b})", o.count)
                        }
                        _ => "Nothing was old enough to purge".to_owned(),
                    })
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    view! {
        <details class="manual-purge">
            <summary>"Manual purge"</summary>
            <form class="inline-form" on:submit=submit>
                <select aria-label="Tenant to purge" on:change=move |ev| tenant.set(event_target_value(&ev)) prop:value=tenant>
                    <option value="">"Choose a tenant"</option>
                    {move || tenants.get().into_iter().map(|(slug, name)| view! { <option value=slug.clone()>{name}</option> }).collect_view()}
                </select>
                <label class="inline">"Older than (days)"
                    <input type="number" min="1" aria-label="Older than (days)" prop:value=days on:input=move |ev| days.set(event_target_value(&ev))/>
                </label>
                <input type="text" aria-label="Type the tenant's slug to confirm" placeholder="type the tenant's slug to confirm"
                    prop:value=confirm on:input=move |ev| confirm.set(event_target_value(&ev))/>
                <button type="submit" class="danger">"Purge"</button>
            </form>
            {move || outcome.get().map(|r| match r {
                Ok(m) => view! { <p class="form-ok" role="status">{m}</p> }.into_any(),
                Err(m) => view! { <p class="form-error" role="alert">{m}</p> }.into_any(),
            })}
        </details>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pager {
    page: u32,
    size: u32,
    total: u64,
    exact: bool,
}

impl Pager {
    /// The last page there is, or `None` when the count is only a lower bound.
    fn last(self) -> Option<u32> {
        self.exact.then(|| {
            u32::try_from(self.total.div_ceil(u64::from(self.size)).max(1)).unwrap_or(u32::MAX)
        })
    }

    /// The page numbers to offer: the first, a window around the current, the last.
    fn numbers(self) -> Vec<u32> {
        let last = self.last().unwrap_or(self.page + 2);
        let mut pages: Vec<u32> = [1, last]
            .into_iter()
            .chain(self.page.saturating_sub(2).max(1)..=(self.page + 2).min(last))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }
}

#[component]
fn PageLinks(pager: Pager, view_query: Memo<ViewQuery>) -> impl IntoView {
    let href = move |n: u32| {
        let q = view_query.get_untracked();
        let mut q = q.with("page", "");
        if n > 1 {
            q = q.with_page(n);
        }
        q.href("/master")
    };
    let last = pager.last();
    let has_next = last.is_none_or(|l| pager.page < l);
    let mut previous_shown = 0;
    view! {
        <nav class="pager" aria-label="Pages">
            {(pager.page > 1).then(|| view! { <a href=href(pager.page - 1) rel="prev">"← Previous"</a> })}
            {pager.numbers().into_iter().map(|n| {
                let gap = n > previous_shown + 1;
                previous_shown = n;
                view! {
                    {gap.then(|| view! { <span class="gap">"…"</span> })}
                    {if n == pager.page {
                        view! { <span class="current" aria-current="page">{n}</span> }.into_any()
                    } else {
                        view! { <a href=href(n)>{n}</a> }.into_any()
                    }}
                }
            }).collect_view()}
            {has_next.then(|| view! { <a href=href(pager.page + 1) rel="next">"Next →"</a> })}
        </nav>
    }
}

#[component]
fn MasterTable(rows: Vec<MasterRow>) -> impl IntoView {
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
                    {rows.into_iter().map(|r| {
                        let e = r.entry;
                        view! {
                            <tr data-tenant=r.tenant_slug.clone() data-id=e.id.to_string()>
                                <td><a href=format!("/entries/{}", e.id)><time title=time_title(e.occurred_at)>{relative(e.occurred_at, now)}</time></a></td>
                                <td class="tenant">{r.tenant_name}</td>
                                <td><span class=format!("badge cat-{}", e.category())>{e.event_type.to_string()}</span></td>
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
