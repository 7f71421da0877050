//! Integrity in the UI: the tenant feed's "Verify integrity" panel, and the public
//! verification page that checks a pasted export in the browser with the same Rust
//! code `stele verify` runs.

use super::time::time_title;
use super::ErrorState;
use crate::api::{
    integrity, public_inclusion, public_verification, sign_checkpoint_now, verify_integrity,
    AppError, VerifyReport,
};
use crate::checkpoint::{parse_public_key, Checkpoint};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_params_map;

fn report_text(r: &VerifyReport) -> String {
    if r.ok {
        let mut text = format!(
            "OK: {} entries verify from genesis; {} checkpoint(s) match; head {}",
            r.entries,
            r.checkpoints_checked,
            r.head_hash.as_deref().unwrap_or("(empty)")
        );
        if !r.purged_ranges.is_empty() {
            let ranges: Vec<String> = r
                .purged_ranges
                .iter()
                .map(|(a, b)| format!("{a}–{b}"))
                .collect();
            text.push_str(&format!(
                "; retention purged the content of {} entries (seq {}), verified through their chain links",
                r.purged,
                ranges.join(", ")
            ));
            if r.kept_critical > 0 {
                text.push_str(&format!(
                    "; {} critical entries in those ranges were kept",
                    r.kept_critical
                ));
            }
        }
        text
    } else {
        format!(
            "Broken at seq {}: {}",
            r.broken_seq.unwrap_or_default(),
            r.reason.as_deref().unwrap_or("unknown")
        )
    }
}

/// The tenant feed's integrity actions (the server decides who may use them).
#[component]
pub fn IntegrityPanel(tenant: Option<String>) -> impl IntoView {
    let result = RwSignal::new(None::<Result<VerifyReport, AppError>>);
    let busy = RwSignal::new(false);
    let info = RwSignal::new(None::<Result<crate::api::IntegrityInfo, AppError>>);
    let t = StoredValue::new(tenant);
    let verify = move |_| {
        busy.set(true);
        spawn_local(async move {
            result.set(Some(verify_integrity(t.get_value()).await));
            busy.set(false);
        });
    };
    let sign = move |_| {
        spawn_local(async move {
            info.set(Some(sign_checkpoint_now(t.get_value()).await));
        });
    };
    Effect::new(move |_| {
        spawn_local(async move {
            info.set(Some(integrity(t.get_value()).await));
        });
    });
    view! {
        <details class="integrity">
            <summary>"Integrity"</summary>
            <div class="integrity-actions">
                <button type="button" class="primary" on:click=verify disabled=move || busy.get()>
                    {move || if busy.get() { "Verifying…" } else { "Verify integrity" }}
                </button>
                <button type="button" on:click=sign>"Sign a checkpoint now"</button>
            </div>
            {move || result.get().map(|r| match r {
                Ok(r) => view! {
                    <p class=if r.ok { "form-ok verify-result" } else { "form-error verify-result" } role="status">{report_text(&r)}</p>
                }.into_any(),
                Err(e) => view! { <ErrorState error=e/> }.into_any(),
            })}
            {move || info.get().and_then(|r| r.ok()).map(|i| {
                let latest = i.checkpoints.first().cloned();
                view! {
                    <p class="hint">
                        "Public verification page (share with auditors): "
                        <a href=i.verification_path.clone() class="verification-link">{i.verification_path.clone()}</a>
                    </p>
                    <p class="hint">{match latest {
                        Some(cp) => format!("Latest checkpoint: {} entries, root {}, signed {}", cp.tree_size, cp.root_hash, time_title(cp.signed_at)),
                        None => "No checkpoint signed yet.".to_owned(),
                    }}</p>
                }
            })}
        </details>
    }
}

/// `/verify/{token}`: the tenant's public key and checkpoints, and an export checker
/// that runs in the browser.
#[component]
pub fn VerifyPage() -> impl IntoView {
    let params = use_params_map();
    let data = LocalResource::new(move || {
        let token = params.read().get("token").unwrap_or_default();
        public_verification(token)
    });
    view! {
        <section class="verify-page">
            <h1>"Verify an audit log"</h1>
            <Suspense fallback=|| view! { <p class="state" role="status">"Loading checkpoints…"</p> }>
                {move || data.get().map(|r| match r {
                    Err(e) => view! { <ErrorState error=e/> }.into_any(),
                    Ok(v) => {
                        let token = params.read_untracked().get("token").unwrap_or_default();
                        view! {
                            <Published tenant=v.tenant_name public_key=v.public_key.clone() checkpoints=v.checkpoints/>
                            <OneEntry token=token public_key=v.public_key/>
                        }.into_any()
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Published(tenant: String, public_key: String, checkpoints: Vec<Checkpoint>) -> impl IntoView {
    let export = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let cps = StoredValue::new(checkpoints.clone());
    let key = StoredValue::new(public_key.clone());
    let check = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = export.get_untracked();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let n = lines.len() as u64;
        let with_header = lines
            .first()
            .is_some_and(|l| l.trim_start().starts_with("{\"stele_export\""));
        // An export with a header carries its checkpoint, which must be one of those
        // published here; an older export is checked against the largest it can be.
        let published: Vec<Checkpoint> = cps.with_value(|c| {
            if with_header {
                c.clone()
            } else {
                c.iter()
                    .filter(|c| c.tree_size <= n)
                    .max_by_key(|c| c.tree_size)
                    .cloned()
                    .into_iter()
                    .collect()
            }
        });
        let result = match parse_public_key(&key.get_value()) {
            _ if published.is_empty() => {
                Err("no published checkpoint covers this export yet".to_owned())
            }
            Err(e) => Err(e.to_string()),
            Ok(public) => crate::verify::verify_export(lines, Some(&published), &[public])
                .map(|r| format!("OK: {}", r.summary()))
                .map_err(|p| format!("Verification failed at {p}")),
        };
        outcome.set(Some(result));
    };
    view! {
        <p class="subtitle">{tenant}</p>
        <dl class="facts">
            <dt>"Public key (Ed25519)"</dt><dd><code class="public-key">{public_key}</code></dd>
        </dl>
        <h2>"Signed checkpoints"</h2>
        {if checkpoints.is_empty() {
            view! { <p class="state state-empty">"No checkpoint has been signed yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="checkpoints">
                        <thead><tr><th>"Signed"</th><th>"Entries"</th><th>"Merkle root"</th></tr></thead>
                        <tbody>
                            {checkpoints.into_iter().map(|c| view! {
                                <tr><td>{time_title(c.signed_at)}</td><td class="size">{c.tree_size}</td><td><code>{c.root_hash}</code></td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
        <h2>"Check an export"</h2>
        <form class="export-check" on:submit=check>
            <label>"Upload an NDJSON export"
                <input type="file" accept=".ndjson,.jsonl,.json,application/x-ndjson" aria-label="Export file"
                    on:change=move |ev| {
                        let input: web_sys::HtmlInputElement = event_target(&ev);
                        let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
                        spawn_local(async move {
                            match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                                Ok(text) => export.set(text.as_string().unwrap_or_default()),
                                Err(_) => outcome.set(Some(Err("the file could not be read".to_owned()))),
                            }
                        });
                    }/>
            </label>
            <label>"…or paste it; it is checked here, in your browser"
                <textarea rows="8" aria-label="NDJSON export" prop:value=export on:input=move |ev| export.set(event_target_value(&ev))></textarea>
            </label>
            <button type="submit" class="primary">"Verify in the browser"</button>
        </form>
        {move || outcome.get().map(|r| match r {
            Ok(m) => view! { <p class="form-ok" role="status">{m}</p> }.into_any(),
            Err(m) => view! { <p class="form-error" role="alert">{m}</p> }.into_any(),
        })}
    }
}

/// Checks one entry (a line of an export): its digest here, then its inclusion proof
/// against the newest signed checkpoint covering it, with the published key.
#[component]
fn OneEntry(token: String, public_key: String) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let token = StoredValue::new(token);
    let key = StoredValue::new(public_key);
    let check = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let line = text.get_untracked();
        spawn_local(async move {
            outcome.set(Some(
                check_one(&token.get_value(), &key.get_value(), &line).await,
            ));
        });
    };
    view! {
        <h2>"Check one entry"</h2>
        <form class="export-check" on:submit=check>
            <label>"Paste one entry (one line of an export)"
                <textarea rows="4" aria-label="One entry" prop:value=text on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            </label>
            <button type="submit" class="primary">"Check this entry"</button>
        </form>
        {move || outcome.get().map(|r| match r {
            Ok(m) => view! { <p class="form-ok entry-check" role="status">{m}</p> }.into_any(),
            Err(m) => view! { <p class="form-error entry-check" role="alert">{m}</p> }.into_any(),
        })}
    }
}

async fn check_one(token: &str, public_key: &str, line: &str) -> Result<String, String> {
    let entry: crate::entry::Entry =
        serde_json::from_str(line.trim()).map_err(|e| format!("not an entry: {e}"))?;
    let digest = crate::canonical::entry_digest(&entry);
    if hex::encode(digest) != entry.entry_digest {
        return Err(format!(
            "entry {}: content changed: it does not match its digest",
            entry.seq
        ));
    }
    let answer = public_inclusion(token.to_owned(), entry.seq)
        .await
        .map_err(|e| e.to_string())?;
    let public = parse_public_key(public_key).map_err(|e| e.to_string())?;
    answer
        .checkpoint
        .verify(&public)
        .map_err(|e| e.to_string())?;
    let proof: Vec<crate::merkle::Hash> = answer
        .proof
        .iter()
        .filter_map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect();
    let root = answer
        .checkpoint
        .root()
        .ok_or("the checkpoint's root is malformed")?;
    let leaf = crate::merkle::leaf_hash(&digest);
    if proof.len() == answer.proof.len()
        && crate::merkle::verify_inclusion(
            answer.leaf_index,
            answer.checkpoint.tree_size,
            &leaf,
            &proof,
            &root,
        )
    {
        Ok(format!(
            "OK: entry {} is in the log: its proof leads to the root of the checkpoint of {} entries signed {}",
            entry.seq,
            answer.checkpoint.tree_size,
            time_title(answer.checkpoint.signed_at)
        ))
    } else {
        Err(format!(
            "entry {}: not in the log as signed: its inclusion proof does not reach the checkpoint's root",
            entry.seq
        ))
    }
}
