//! `/catalog`: every event type a tenant's log can hold, from the catalog itself (the
//! same source as ingestion's checks, the OpenAPI document and docs/API.md), grouped by
//! category, with its action and whether retention keeps it (critical).

use crate::catalog::{Category, EventType};
use leptos::prelude::*;

#[component]
pub fn CatalogPage() -> impl IntoView {
    let groups: Vec<(Category, Vec<EventType>)> = Category::ALL
        .iter()
        .map(|c| {
            let types = EventType::ALL
                .iter()
                .copied()
                .filter(|t| t.category() == *c)
                .collect();
            (*c, types)
        })
        .collect();
    view! {
        <h1>"Event catalog"</h1>
        <p class="hint">
            "Every event type Stele records, by category. Critical events keep their content whatever the tenant's retention."
        </p>
        <table class="catalog" data-testid="catalog">
            <thead>
                <tr><th scope="col">"Event type"</th><th scope="col">"Category"</th><th scope="col">"Action"</th><th scope="col">"Retention"</th></tr>
            </thead>
            <tbody>
                {groups.into_iter().flat_map(|(category, types)| {
                    types.into_iter().map(move |t| view! {
                        <tr data-type=t.as_str()>
                            <td><code>{t.as_str()}</code></td>
                            <td><span class="pill">{category.label()}</span></td>
                            <td>{t.action().as_str()}</td>
                            <td>{if t.is_critical() { "critical: kept forever" } else { "purged with retention" }}</td>
                        </tr>
                    })
                }).collect_view()}
            </tbody>
        </table>
    }
}
