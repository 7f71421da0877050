//! Administration for owners and admins: users, roles, instance grants, API keys.

use super::ErrorState;
use crate::api::{
    api_keys, change_role, create_api_key, create_user, instances, remove_user, retention_setting,
    revoke_api_key, sensitive_fields, set_grant, set_retention, set_sensitive_fields,
    transfer_api_key, users, AppError, InstanceView, UserView,
};
use crate::auth::Role;
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub fn AdminPage() -> impl IntoView {
    super::set_title("Administration");
    let auth = expect_context::<super::Auth>();
    let super_admin = Memo::new(move |_| auth.0.get().flatten().is_some_and(|me| me.super_admin));
    view! {
        <Show when=move || super_admin.get() fallback=|| view! { <TenantAdministration/> }>
            <PlatformReading/>
        </Show>
    }
}

/// A super admin's view of a tenant's administration: chosen in the URL
/// (`?tenant=slug`), read only (its owners and admins change it).
#[component]
fn PlatformReading() -> impl IntoView {
    let view_query = super::filters::use_view_query();
    let tenant = Memo::new(move |_| view_query.read().get("tenant").map(str::to_owned));
    let data = LocalResource::new(move || {
        let t = tenant.get();
        async move {
            let Some(t) = t else { return Ok(None) };
            let people = users(Some(t.clone())).await?;
            let keys = api_keys(Some(t.clone())).await?;
            let fields = sensitive_fields(Some(t.clone())).await?;
            let days = retention_setting(Some(t)).await?;
            Ok::<_, AppError>(Some((people, keys, fields, days)))
        }
    });
    view! {
        <section class="admin">
            <h1>"Administration"</h1>
            <super::feed::TenantChooser path="/admin" chosen=tenant/>
            <p class="hint">"Platform accounts read a tenant's administration here; its owners and admins change it."</p>
            <Suspense fallback=|| view! { <p class="state" role="status">"Loading…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    Ok(None) => view! { <p class="state state-empty">"Choose a tenant to read its users, API keys and settings."</p> }.into_any(),
                    Ok(Some((people, keys, fields, days))) => view! {
                        <h2>"Users"</h2>
                        <table class="users">
                            <thead><tr><th>"User"</th><th>"Role"</th><th>"Instance access (members)"</th></tr></thead>
                            <tbody>
                                {people.into_iter().filter(|u| !u.removed).map(|u| view! {
                                    <tr data-email=u.email.clone()>
                                        <td>{u.name.clone().unwrap_or_default()}" "<span class="muted">{u.email.clone()}</span></td>
                                        <td>{u.role.map(|r| r.as_str()).unwrap_or("member")}</td>
                                        <td>{u.grants.join(", ")}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <h2>"API keys"</h2>
                        <table class="keys">
                            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Scopes"</th><th>"State"</th></tr></thead>
                            <tbody>
                                {keys.into_iter().map(|k| view! {
                                    <tr>
                                        <td>{super::visible(&k.name)}</td>
                                        <td><code>{k.prefix.clone()}</code></td>
                                        <td>{k.scopes.join(", ")}</td>
                                        <td>{if k.revoked { "revoked" } else { "active" }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <h2>"Sensitive fields"</h2>
                        <p>{if fields.tenant.is_empty() { "The built-in list only.".to_owned() } else { format!("Beyond the built-in list: {}", fields.tenant.join(", ")) }}</p>
                        <h2>"Retention"</h2>
                        <p class="retention">{match days { Some(d) => format!("Content is kept {d} days."), None => "Content is kept without limit.".to_owned() }}</p>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}

/// Administration of the caller's own tenant (owners and admins).
#[component]
fn TenantAdministration() -> impl IntoView {
    // Bumped after every change, so the lists reload.
    let version = RwSignal::new(0u32);
    let notice = RwSignal::new(None::<Result<String, String>>);
    let report = Callback::new(move |r: Result<String, AppError>| {
        notice.set(Some(r.map_err(|e| e.to_string())));
        version.update(|v| *v += 1);
    });
    let people = LocalResource::new(move || {
        version.track();
        users(None)
    });
    let fleet = LocalResource::new(move || {
        version.track();
        instances(None)
    });
    // A caller who may not administer gets one explanation and no forms.
    // A memo: the sections are built once, not again on every reload of the lists.
    let refused = Memo::new(move |_| {
        match people.get() {
        Some(Err(e @ (AppError::Forbidden(_) | AppError::NotFound(_) | AppError::Unauthorized(_)))) => Some(e),
        Some(Err(AppError::BadRequest(_))) => Some(AppError::Forbidden(
            "Administration manages one tenant's people, API keys and settings, and platform accounts belong to no tenant: its owners and admins administer it.".to_owned(),
        )),
        _ => None,
    }
    });
    view! {
        <section class="admin">
            <h1>"Administration"</h1>
            {move || match refused.get() {
                Some(e) => view! { <ErrorState error=e/> }.into_any(),
                None => view! { <AdminSections notice=notice people=people fleet=fleet version=version report=report/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn AdminSections(
    notice: RwSignal<Option<Result<String, String>>>,
    people: LocalResource<Result<Vec<UserView>, AppError>>,
    fleet: LocalResource<Result<Vec<InstanceView>, AppError>>,
    version: RwSignal<u32>,
    report: Callback<Result<String, AppError>>,
) -> impl IntoView {
    view! {
            {move || notice.get().map(|n| match n {
                Ok(m) => view! { <p class="form-ok" role="status">{m}</p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e}</p> }.into_any(),
            })}
            <h2>"Users"</h2>
            <Suspense fallback=|| view! { <p class="state">"Loading users…"</p> }>
                {move || match (people.get(), fleet.get()) {
                    (Some(Err(e)), _) | (_, Some(Err(e))) => view! { <ErrorState error=e/> }.into_any(),
                    (Some(Ok(list)), Some(Ok(inst))) => view! { <UserTable users=list instances=inst report=report/> }.into_any(),
                    _ => ().into_any(),
                }}
            </Suspense>
            <NewUserForm report=report/>
            <h2>"API keys"</h2>
            <ApiKeys version=version report=report/>
            <h2>"Sensitive fields"</h2>
            <SensitiveFieldsForm version=version report=report/>
            <h2>"Retention"</h2>
            <RetentionForm version=version report=report/>
    }
}

#[component]
fn UserTable(
    users: Vec<UserView>,
    instances: Vec<InstanceView>,
    report: Callback<Result<String, AppError>>,
) -> impl IntoView {
    let live: Vec<InstanceView> = instances.into_iter().filter(|i| !i.deleted).collect();
    view! {
        <table class="users">
            <thead><tr><th>"User"</th><th>"Role"</th><th>"Instance access (members)"</th><th></th></tr></thead>
            <tbody>
                {users.into_iter().filter(|u| !u.removed).map(|u| {
                    let id = u.id;
                    let email = u.email.clone();
                    let role = u.role.unwrap_or(Role::Member);
                    let grants = u.grants.clone();
                    view! {
                        <tr data-email=u.email.clone()>
                            <td>{u.name.clone().unwrap_or_default()}" "<span class="muted">{u.email.clone()}</span>
                                {(!u.has_password).then(|| view! { <span class="tag">"invited"</span> })}
                                " "<a class="history" href=format!("/audit?actor={id}")>"View history"</a></td>
                            <td>
                                <select aria-label=format!("Role of {email}") on:change=move |ev| {
                                    let select = event_target::<web_sys::HtmlSelectElement>(&ev);
                                    let Ok(new) = select.value().parse::<Role>() else { return };
                                    spawn_local(async move {
                                        let done = change_role(id, new).await;
                                        // Refused: the control shows the role the user really has.
                                        if done.is_err() {
                                            select.set_value(role.as_str());
                                        }
                                        report.run(done.map(|u| format!("{} is now {new}", u.email)));
                                    });
                                }>
                                    {Role::ALL.into_iter().map(|r| view! {
                                        <option value=r.as_str() selected=r == role>{r.as_str()}</option>
                                    }).collect_view()}
                                </select>
                            </td>
                            <td class="grants">
                                {(role == Role::Member).then(|| live.iter().map(|i| {
                                    let has = grants.contains(&i.id);
                                    let iid = i.id.clone();
                                    view! {
                                        <label class="grant">
                                            <input type="checkbox" checked=has on:change=move |_| {
                                                let iid = iid.clone();
                                                spawn_local(async move {
                                                    report.run(set_grant(id, iid, !has).await.map(|u| format!("Updated access of {}", u.email)));
                                                });
                                            }/>
                                            {i.name.clone()}
                                        </label>
                                    }
                                }).collect_view())}
                            </td>
                            <td>
                                <button class="danger" aria-label=format!("Remove {email}") on:click={
                                    let email = u.email.clone();
                                    move |_| {
                                        let asked = format!(
                                            "Remove {email}? They can no longer log in, their sessions end, their instance access and the API keys they created are revoked. Their history stays in the log."
                                        );
                                        if !super::confirm(&asked) {
                                            return;
                                        }
                                        spawn_local(async move {
                                            report.run(remove_user(id).await.map(|()| "User removed".to_owned()));
                                        });
                                    }
                                }>"Remove"</button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn NewUserForm(report: Callback<Result<String, AppError>>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Member);
    let link = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        spawn_local(async move {
            match create_user(
                email.get_untracked(),
                name.get_untracked(),
                role.get_untracked(),
            )
            .await
            {
                Ok(created) => {
                    link.set(Some(created.set_password_link));
                    report.run(Ok(format!("Invited {}", created.user.email)));
                }
                Err(e) => report.run(Err(e)),
            }
        });
    };
    view! {
        <form class="inline-form" on:submit=submit>
            <h3>"Invite a user"</h3>
            <input type="email" placeholder="email" required aria-label="Email of the new user"
                prop:value=email on:input=move |ev| email.set(event_target_value(&ev))/>
            <input type="text" placeholder="name" aria-label="Name of the new user"
                prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            <select aria-label="Role of the new user" on:change=move |ev| {
                if let Ok(r) = event_target_value(&ev).parse::<Role>() { role.set(r) }
            }>
                {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <button type="submit" class="primary">"Invite"</button>
            {move || link.get().map(|l| view! {
                <p class="secret">"Send this one-time set-password link to the user (shown once): "<code>{l}</code></p>
            })}
        </form>
    }
}

#[component]
fn ApiKeys(version: RwSignal<u32>, report: Callback<Result<String, AppError>>) -> impl IntoView {
    let keys = LocalResource::new(move || {
        version.track();
        api_keys(None)
    });
    // Who a key can be moved to, so it outlives its creator's removal.
    let people = LocalResource::new(move || {
        version.track();
        users(None)
    });
    let name = RwSignal::new(String::new());
    let write = RwSignal::new(true);
    let read = RwSignal::new(false);
    let catalog = RwSignal::new(false);
    let secret = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut scopes = Vec::new();
        if write.get_untracked() {
            scopes.push("events:write".to_owned());
        }
        if read.get_untracked() {
            scopes.push("events:read".to_owned());
        }
        if catalog.get_untracked() {
            scopes.push("catalog:write".to_owned());
        }
        spawn_local(async move {
            match create_api_key(name.get_untracked(), scopes).await {
                Ok(k) => {
                    secret.set(Some(k.secret));
                    report.run(Ok(format!("Created API key \"{}\"", k.key.name)));
                }
                Err(e) => report.run(Err(e)),
            }
        });
    };
    view! {
        <Suspense fallback=|| view! { <p class="state">"Loading keys…"</p> }>
            {move || keys.get().map(|r| match r {
                Err(e) => view! { <ErrorState error=e/> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="state state-empty">"No API keys yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="keys">
                        <thead><tr><th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th>"Status"</th><th>"Revoked with"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|k| {
                                let id = k.id;
                                let key_label = format!("Person key {} is revoked with", k.name);
                                let key_name = k.name.clone();
                                view! {
                                    <tr>
                                        <td>{k.name}" "<a class="history" href=format!("/audit?actor={id}")>"View history"</a></td>
                                        <td><code>{format!("{}…", k.prefix)}</code></td>
                                        <td>{k.scopes.join(", ")}</td>
                                        <td>{if k.revoked { "revoked" } else { "active" }}</td>
                                        <td>{
                                            let responsible = k.responsible.map(|u| u.to_string()).unwrap_or_default();
                                            let active: Vec<UserView> = people
                                                .get()
                                                .and_then(Result::ok)
                                                .unwrap_or_default()
                                                .into_iter()
                                                .filter(|u| !u.removed)
                                                .collect();
                                            (!k.revoked).then(|| view! {
                                                <select aria-label=key_label.clone() prop:value=responsible.clone()
                                                    on:change=move |ev| {
                                                        let Ok(to) = event_target_value(&ev).parse::<uuid::Uuid>() else { return };
                                                        spawn_local(async move {
                                                            report.run(transfer_api_key(id, to).await.map(|()| "API key moved".to_owned()));
                                                        });
                                                    }>
                                                    <option value="">"(no one: created on the command line)"</option>
                                                    {active.into_iter().map(|u| {
                                                        let value = u.id.to_string();
                                                        let selected = value == responsible;
                                                        view! { <option value=value selected=selected>{u.email}</option> }
                                                    }).collect_view()}
                                                </select>
                                            })
                                        }</td>
                                        <td>{(!k.revoked).then(|| view! {
                                            <button class="danger" aria-label=format!("Revoke {}", key_name) on:click={
                                                let asked = format!(
                                                    "Revoke the API key \u{201c}{key_name}\u{201d}? Every producer using it is refused from now on (401); what it wrote stays in the log."
                                                );
                                                move |_| {
                                                    if !super::confirm(&asked) {
                                                        return;
                                                    }
                                                    spawn_local(async move {
                                                        report.run(revoke_api_key(id).await.map(|()| "API key revoked".to_owned()));
                                                    });
                                                }
                                            }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Suspense>
        <form class="inline-form" on:submit=submit>
            <h3>"Create an API key"</h3>
            <input type="text" placeholder="name, e.g. PBX sync" required aria-label="API key name"
                prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
            <label class="grant"><input type="checkbox" prop:checked=write on:change=move |_| write.update(|w| *w = !*w)/>"write events"</label>
            <label class="grant"><input type="checkbox" prop:checked=read on:change=move |_| read.update(|r| *r = !*r)/>"read events"</label>
            <label class="grant"><input type="checkbox" prop:checked=catalog on:change=move |_| catalog.update(|c| *c = !*c)/>"manage event types"</label>
            <button type="submit" class="primary">"Create key"</button>
            {move || secret.get().map(|s| view! {
                <p class="secret">"The key's secret, shown only now: "<code>{s}</code></p>
            })}
        </form>
    }
}

/// The tenant's own additions to the masked field names (owners change them).
#[component]
fn SensitiveFieldsForm(
    version: RwSignal<u32>,
    report: Callback<Result<String, AppError>>,
) -> impl IntoView {
    let current = LocalResource::new(move || {
        version.track();
        sensitive_fields(None)
    });
    let text = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(f)) = current.get() {
            text.set(f.tenant.join(", "));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let fields: Vec<String> = text
            .get_untracked()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        spawn_local(async move {
            report.run(
                set_sensitive_fields(fields)
                    .await
                    .map(|_| "Sensitive fields saved".to_owned()),
            );
        });
    };
    view! {
        <p class="hint">
            "Values of these fields are stored as *** at any depth. Always masked: "
            {move || current.get().and_then(|r| r.ok()).map(|f| f.builtin.join(", "))}
        </p>
        <form class="inline-form" on:submit=submit>
            <input type="text" placeholder="e.g. voicemail_pin, sip_secret" aria-label="Additional sensitive fields"
                prop:value=text on:input=move |ev| text.set(event_target_value(&ev))/>
            <button type="submit" class="primary">"Save"</button>
        </form>
    }
}

/// How long the tenant keeps content (owners change it).
#[component]
fn RetentionForm(
    version: RwSignal<u32>,
    report: Callback<Result<String, AppError>>,
) -> impl IntoView {
    let current = LocalResource::new(move || {
        version.track();
        retention_setting(None)
    });
    let choice = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(days)) = current.get() {
            choice.set(days.map_or_else(|| "unlimited".to_owned(), |d| d.to_string()));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let days = choice.get_untracked().parse::<u32>().ok();
        spawn_local(async move {
            report.run(set_retention(days).await.map(|d| match d {
                Some(d) => format!("Retention set to {d} days"),
                None => "Retention set to unlimited".to_owned(),
            }));
        });
    };
    view! {
        <p class="hint">"Content older than this is purged daily, oldest first; the hash chain stays verifiable."</p>
        <form class="inline-form" on:submit=submit>
            <select aria-label="Retention" prop:value=choice on:change=move |ev| choice.set(event_target_value(&ev))>
                <option value="30">"30 days"</option>
                <option value="90">"90 days"</option>
                <option value="365">"365 days"</option>
                <option value="unlimited">"Unlimited"</option>
            </select>
            <button type="submit" class="primary">"Save retention"</button>
        </form>
    }
}
