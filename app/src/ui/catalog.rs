//! `/catalog`: every event type the tenant's log can hold — built in, from the packs
//! it switched on, and its own — with category, action, critical flag and schema,
//! from the same definitions ingestion checks against (and the OpenAPI document and
//! docs/API.md list). Owners switch packs on and off, and register, change and
//! retire their own types here.

use super::filters::use_view_query;
use super::ErrorState;
use crate::api::{catalog, put_event_type, retire_event_type, set_catalog_pack, CatalogView};
use crate::catalog::{Action, TypeDef, TypeInput, TypeOrigin};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn CatalogPage() -> impl IntoView {
    super::set_title("Event catalog");
    let view_query = use_view_query();
    let tenant = Memo::new(move |_| view_query.read().get("tenant").map(str::to_owned));
    let version = RwSignal::new(0u32);
    let view = LocalResource::new(move || {
        version.track();
        let tenant = tenant.get();
        async move { catalog(tenant).await }
    });
    let message = RwSignal::new(None::<Result<String, String>>);
    // A refused change keeps the form as it was typed; a done one reloads the list.
    let report = Callback::new(move |r: Result<String, crate::api::AppError>| {
        if r.is_ok() {
            version.update(|v| *v += 1);
        }
        message.set(Some(r.map_err(|e| e.to_string())));
    });
    view! {
        <h1>"Event catalog"</h1>
        <p class="hint">
            "Every event type this tenant's log can hold, by category. Critical events keep their content whatever the tenant's retention."
        </p>
        {move || message.get().map(|m| match m {
            Ok(text) => view! { <p class="form-ok" role="status">{text}</p> }.into_any(),
            Err(text) => view! { <p class="form-error" role="alert">{text}</p> }.into_any(),
        })}
        <Suspense fallback=|| view! { <p class="state">"Loading the catalog…"</p> }>
            {move || view.get().map(|r| match r {
                Err(e) => view! { <ErrorState error=e/> }.into_any(),
                Ok(v) => view! { <Catalog view=v tenant=tenant report=report/> }.into_any(),
            })}
        </Suspense>
    }
}

fn origin_label(d: &TypeDef) -> String {
    match &d.origin {
        TypeOrigin::Builtin => "built in".to_owned(),
        TypeOrigin::Pack(id) => {
            crate::packs::pack(id).map_or_else(|| id.clone(), |p| format!("pack: {}", p.name))
        }
        TypeOrigin::Tenant => "this tenant".to_owned(),
    }
}

#[component]
fn Catalog(
    view: CatalogView,
    tenant: Memo<Option<String>>,
    report: Callback<Result<String, crate::api::AppError>>,
) -> impl IntoView {
    let manage = view.can_manage;
    let packs = view.packs.clone();
    view! {
        <section aria-labelledby="packs">
            <h2 id="packs">"Packs"</h2>
            <p class="hint">"The event types of the other systems you run, named as those products name them."</p>
            <ul class="packs" data-testid="packs">
                {packs.into_iter().map(|p| {
                    let id = p.id.clone();
                    let on = p.enabled;
                    let name = p.name.clone();
                    view! {
                        <li data-pack=p.id.clone() data-enabled=on.to_string()>
                            <strong>{p.name.clone()}</strong>
                            {format!(" · {} event types · {}", p.types, if on { "on" } else { "off" })}
                            <p class="hint">{p.description.clone()}</p>
                            {manage.then(|| view! {
                                <button type="button" class=if on { "" } else { "primary" }
                                    on:click=move |_| {
                                        let (id, name) = (id.clone(), name.clone());
                                        spawn_local(async move {
                                            let verb = if on { "Switched off" } else { "Switched on" };
                                            report.run(set_catalog_pack(tenant.get_untracked(), id, !on).await
                                                .map(|()| format!("{verb} the {name} pack")));
                                        });
                                    }>
                                    {if on { "Switch off" } else { "Switch on" }}
                                </button>
                            })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
        {manage.then(|| view! { <RegisterForm tenant=tenant report=report/> })}
        <section aria-labelledby="types">
            <h2 id="types">"Event types"</h2>
            <table class="catalog" data-testid="catalog">
                <thead>
                    <tr>
                        <th scope="col">"Event type"</th><th scope="col">"Category"</th><th scope="col">"Action"</th>
                        <th scope="col">"Retention"</th><th scope="col">"From"</th><th scope="col">"Description"</th><th scope="col"></th>
                    </tr>
                </thead>
                <tbody>
                    {view.types.into_iter().map(|t| {
                        let name = t.name.to_string();
                        let own = t.origin == TypeOrigin::Tenant;
                        let retired = t.retired;
                        let schema = t.schema.as_ref().map(|s| serde_json::to_string_pretty(s).unwrap_or_default());
                        let retire_name = name.clone();
                        view! {
                            <tr data-type=name.clone() class:retired=retired>
                                <td><code>{name.clone()}</code>{retired.then_some(" (retired)")}</td>
                                <td><span class="pill">{t.category_label.clone()}</span></td>
                                <td>{t.action.as_str()}</td>
                                <td>{if t.critical { "critical: kept forever" } else { "purged with retention" }}</td>
                                <td>{origin_label(&t)}</td>
                                <td>{t.description.clone()}
                                    {schema.map(|s| view! { <details><summary>"metadata schema"</summary><pre>{s}</pre></details> })}
                                </td>
                                <td>{(manage && own && !retired).then(|| view! {
                                    <button type="button" aria-label=format!("Retire {name}") on:click=move |_| {
                                        let n = retire_name.clone();
                                        spawn_local(async move {
                                            report.run(retire_event_type(tenant.get_untracked(), n.clone()).await
                                                .map(|()| format!("Retired {n}: new events are refused, its entries stay")));
                                        });
                                    }>"Retire"</button>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}

#[component]
fn RegisterForm(
    tenant: Memo<Option<String>>,
    report: Callback<Result<String, crate::api::AppError>>,
) -> impl IntoView {
    let name = RwSignal::new("custom.".to_owned());
    let category = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let action = RwSignal::new("create".to_owned());
    let description = RwSignal::new(String::new());
    let schema = RwSignal::new(String::new());
    let critical = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let schema_text = schema.get_untracked();
        let schema = if schema_text.trim().is_empty() {
            None
        } else {
            match serde_json::from_str(&schema_text) {
                Ok(v) => Some(v),
                Err(e) => {
                    report.run(Err(crate::api::AppError::BadRequest(format!(
                        "the metadata schema is not JSON: {e}"
                    ))));
                    return;
                }
            }
        };
        let Ok(action) = action.get_untracked().parse::<Action>() else {
            return;
        };
        let label = label.get_untracked();
        let input = TypeInput {
            name: name.get_untracked(),
            category: category.get_untracked(),
            category_label: (!label.trim().is_empty()).then_some(label),
            action,
            description: description.get_untracked(),
            schema,
            critical: critical.get_untracked(),
        };
        spawn_local(async move {
            report.run(
                put_event_type(tenant.get_untracked(), input)
                    .await
                    .map(|d| format!("Saved event type {}", d.name)),
            );
        });
    };
    let text = |signal: RwSignal<String>| move |ev| signal.set(event_target_value(&ev));
    view! {
        <section aria-labelledby="register">
            <h2 id="register">"Register an event type"</h2>
            <p class="hint">"Your own types are named custom.… so they never collide with Stele's. Saving a type of an existing name changes it."</p>
            <form class="register-type" on:submit=submit>
                <label>"Name" <input type="text" required aria-label="Type name" prop:value=name on:input=text(name)/></label>
                <label>"Category" <input type="text" required aria-label="Category" placeholder="e.g. backups or config" prop:value=category on:input=text(category)/></label>
                <label>"Category label" <input type="text" aria-label="Category label" placeholder="for a new category" prop:value=label on:input=text(label)/></label>
                <label>"Action"
                    <select aria-label="Action" prop:value=action on:change=text(action)>
                        {Action::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.as_str()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Description" <input type="text" required aria-label="Description" prop:value=description on:input=text(description)/></label>
                <label>"Metadata schema (JSON Schema, optional)"
                    <textarea aria-label="Metadata schema" rows="4" prop:value=schema on:input=text(schema)></textarea>
                </label>
                <label class="grant"><input type="checkbox" prop:checked=critical on:change=move |_| critical.update(|c| *c = !*c)/>"critical: keep forever"</label>
                <button type="submit" class="primary">"Save type"</button>
            </form>
        </section>
    }
}
