//! The Leptos UI: one module per route, small components next to the page using them.
//! The UI hides what the server would refuse anyway; the server decides.

mod activity;
mod admin;
mod catalog;
mod diff;
mod entry;
mod feed;
mod filters;
mod integrity;
mod keys;
mod login;
mod master;
mod place;
mod query_box;
mod time;

use crate::api::{current_user, logout, AppError, Me};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_navigate;
use leptos_router::path;

/// The logged-in user, shared with every page: `None` while loading, then
/// `Some(None)` for nobody.
#[derive(Clone, Copy)]
pub struct Auth(pub RwSignal<Option<Option<Me>>>);

impl Auth {
    pub fn refresh(self) {
        spawn_local(async move {
            let me = current_user().await.unwrap_or(None);
            self.0.set(Some(me));
        });
    }
}

/// Names the page in the browser's title bar and history: `what · Stele`.
pub fn set_title(what: &str) {
    #[cfg(target_arch = "wasm32")]
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(&format!("{what} · Stele"));
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = what;
}

/// Asks the person to confirm a destructive action, saying what will happen.
pub fn confirm(question: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(question).ok())
            .unwrap_or(false)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = question;
        false
    }
}

/// Text as the viewer shows it: bidirectional controls (which can make `gpj.exe`
/// read as `exe.jpg`) and other invisible format characters are shown as visible
/// escapes like `<U+202E>`; the stored text is unchanged.
pub fn visible(text: &str) -> String {
    let hidden = |c: char| {
        matches!(c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0x061C | 0xFEFF)
            || (c.is_control() && c != '\n' && c != '\t')
    };
    if !text.chars().any(hidden) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                format!("<U+{:04X}>", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn bidi_controls_are_shown_not_obeyed() {
        assert_eq!(
            super::visible("invoice\u{202E}gpj.exe"),
            "invoice<U+202E>gpj.exe"
        );
        assert_eq!(super::visible("plain name"), "plain name");
        assert_eq!(super::visible("a\u{2066}b\u{2069}"), "a<U+2066>b<U+2069>");
    }
}

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth(RwSignal::new(None));
    provide_context(auth);
    auth.refresh();
    view! {
        <Router>
            <a class="skip" href="#main" on:click=|ev| {
                // The router would treat the fragment as a navigation: move focus instead.
                ev.prevent_default();
                #[cfg(target_arch = "wasm32")]
                if let Some(main) = document().get_element_by_id("main") {
                    use leptos::wasm_bindgen::JsCast;
                    if let Ok(main) = main.dyn_into::<web_sys::HtmlElement>() {
                        let _ = main.focus();
                    }
                }
            }>"Skip to content"</a>
            <TopBar/>
            <main class="page" id="main" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/login") view=login::LoginPage/>
                    <Route path=path!("/set-password") view=login::SetPasswordPage/>
                    <Route path=path!("/audit") view=feed::TenantFeedPage/>
                    <Route path=path!("/instances") view=feed::InstancesPage/>
                    <Route path=path!("/instances/:id") view=feed::InstanceFeedPage/>
                    <Route path=path!("/master") view=master::MasterPage/>
                    <Route path=path!("/entries/:id") view=entry::EntryPage/>
                    <Route path=path!("/verify/:token") view=integrity::VerifyPage/>
                    <Route path=path!("/admin") view=admin::AdminPage/>
                    <Route path=path!("/catalog") view=catalog::CatalogPage/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let sign_out = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            let _ = logout().await;
            auth.0.set(Some(None));
            navigate("/login", Default::default());
        });
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Stele"</a>
            <nav class="mainnav" aria-label="Main">
                {move || auth.0.get().flatten().map(|me| view! {
                    {me.sees_tenant_feed().then(|| view! { <a href="/audit">"Tenant feed"</a> })}
                    {me.tenant_slug.is_some().then(|| view! { <a href="/instances">"Instances"</a> })}
                    {me.super_admin.then(|| view! { <a href="/master">"Master view"</a> })}
                    {me.sees_tenant_feed().then(|| view! { <a href="/admin">"Administration"</a> })}
                    <a href="/catalog">"Catalog"</a>
                })}
            </nav>
            <div class="whoami">
                {move || auth.0.get().flatten().map(|me| view! {
                    <span class="user" data-testid="whoami">{me.label()}</span>
                    <button class="linkish" on:click=sign_out.clone()>"Log out"</button>
                })}
            </div>
        </header>
    }
}

/// `/`: where each role starts.
#[component]
fn Home() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(me) = auth.0.get() {
            let to = match me {
                None => "/login",
                Some(me) if me.sees_tenant_feed() => "/audit",
                Some(me) if me.super_admin => "/master",
                Some(_) => "/instances",
            };
            navigate(to, Default::default());
        }
    });
    view! { <p class="state" role="status">"Loading…"</p> }
}

/// How a failed call reads, with a way forward for "log in".
#[component]
pub fn ErrorState(error: AppError) -> impl IntoView {
    let (title, class) = match &error {
        AppError::Unauthorized(_) => ("Please log in", "state state-error"),
        AppError::Forbidden(_) => ("Forbidden", "state state-error state-forbidden"),
        AppError::NotFound(_) => ("Not found", "state state-error"),
        _ => ("Something went wrong", "state state-error"),
    };
    let login = matches!(error, AppError::Unauthorized(_));
    // Logging in comes back here, filters and all.
    let location = leptos_router::hooks::use_location();
    let login_href = move || {
        let here = format!(
            "{}{}",
            location.pathname.get(),
            location.query.get().to_query_string()
        );
        format!("/login?next={}", filters::encode(&here))
    };
    view! {
        <div class=class role="alert">
            <strong>{title}</strong>
            <p>{error.to_string()}</p>
            {login.then(|| view! { <a href=login_href>"Log in"</a> })}
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <section class="state state-error">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. "<a href="/">"Go to the start page"</a></p>
        </section>
    }
}
