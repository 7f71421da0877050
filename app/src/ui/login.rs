//! Login and the one-time set-password page.

use super::Auth;
use crate::api::{login, set_password};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

/// A path on this site to return to after login (never another origin, never the
/// login page itself).
pub(crate) fn is_own_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.starts_with("/login")
        && !next.contains(['\r', '\n'])
}

#[component]
pub fn LoginPage() -> impl IntoView {
    super::set_title("Log in");
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let query = use_query_map();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Back to the page that asked for a login: only a path of this site.
        let next = query
            .read_untracked()
            .get("next")
            .filter(|n| is_own_path(n))
            .unwrap_or_else(|| "/".to_owned());
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match login(email.get_untracked(), password.get_untracked()).await {
                Ok(me) => {
                    auth.0.set(Some(Some(me)));
                    navigate(&next, Default::default());
                }
                Err(e) => error.set(Some(e.to_string())),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Log in to Stele"</h1>
            <form on:submit=submit>
                <label>"Email"
                    <input type="email" name="email" autocomplete="username" required
                        prop:value=email on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label>"Password"
                    <input type="password" name="password" autocomplete="current-password" required
                        prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="primary" disabled=move || busy.get()>"Log in"</button>
            </form>
        </section>
    }
}

#[component]
pub fn SetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let password = RwSignal::new(String::new());
    let message = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = query.read_untracked().get("token").unwrap_or_default();
        spawn_local(async move {
            message.set(Some(
                set_password(token, password.get_untracked())
                    .await
                    .map(|()| "Your password is set. You can log in now.".to_owned())
                    .map_err(|e| e.to_string()),
            ));
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Set your password"</h1>
            <form on:submit=submit>
                <label>"New password (at least 12 characters)"
                    <input type="password" autocomplete="new-password" required minlength="12"
                        prop:value=password on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <button type="submit" class="primary">"Set password"</button>
            </form>
            {move || message.get().map(|m| match m {
                Ok(ok) => view! { <p class="form-ok" role="status">{ok}" "<a href="/login">"Log in"</a></p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e}</p> }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for ok in ["/audit?category=config", "/entries/1", "/"] {
            assert!(super::is_own_path(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/login?next=/x",
            "javascript:alert(1)",
            "",
        ] {
            assert!(!super::is_own_path(bad), "{bad}");
        }
    }
}
