//! The diff expander's table: each changed field's old value (red, "−") beside its new
//! value (green, "+"); the markers mean the diff does not depend on colour. A masked
//! value reads "*** (changed)".

use crate::entry::Change;
use leptos::prelude::*;
use serde_json::Value;

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".to_owned(),
        Some(Value::String(s)) if s == crate::diff::MASK => format!("{s} (changed)"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[component]
pub fn DiffTable(changes: Vec<Change>) -> impl IntoView {
    view! {
        <table class="diff">
            <thead>
                <tr>
                    <th scope="col">"Field"</th>
                    <th scope="col">"Old"</th>
                    <th scope="col">"New"</th>
                </tr>
            </thead>
            <tbody>
                {changes
                    .into_iter()
                    .map(|c| {
                        view! {
                            <tr>
                                <th scope="row" class="path"><code>{c.path.clone()}</code></th>
                                <td class="old">
                                    <span class="marker" aria-label="old value">"−"</span>
                                    <span class="value">{show(&c.old)}</span>
                                </td>
                                <td class="new">
                                    <span class="marker" aria-label="new value">"+"</span>
                                    <span class="value">{show(&c.new)}</span>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
