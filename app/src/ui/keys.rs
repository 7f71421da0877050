//! The feed by keyboard: `j` and `k` move to the next and previous entry (focus
//! follows, so a screen reader reads it), Enter opens the focused entry's details.
//! Keys typed into a field are the field's.

/// The feed's key handling; [`FeedKeys::install`] listens while the feed is shown.
#[derive(Clone, Copy)]
pub struct FeedKeys;

impl FeedKeys {
    pub fn install() -> Self {
        #[cfg(target_arch = "wasm32")]
        {
            let handle =
                leptos::prelude::window_event_listener(leptos::ev::keydown, |ev| on_key(&ev));
            leptos::prelude::on_cleanup(move || handle.remove());
        }
        FeedKeys
    }

    /// Enter on a focused entry (not on a link or button inside it) opens it.
    pub fn on_list_key(&self, ev: &leptos::ev::KeyboardEvent) {
        #[cfg(target_arch = "wasm32")]
        {
            use leptos::wasm_bindgen::JsCast;
            if ev.key() != "Enter" {
                return;
            }
            let Some(row) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
                .filter(|e| e.class_list().contains("entry"))
            else {
                return;
            };
            if let Ok(Some(link)) = row.query_selector("a.details") {
                if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
                    ev.prevent_default();
                    link.click();
                }
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        let _ = ev;
    }
}

/// Which way a key moves through the entries.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn step(key: &str) -> Option<i32> {
    match key {
        "j" => Some(1),
        "k" => Some(-1),
        _ => None,
    }
}

/// The entry to focus: from `current` (none focused: the first), `step` away,
/// kept within `len`.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub fn next_index(current: Option<usize>, step: i32, len: usize) -> Option<usize> {
    if len == 0 {
        return None;
    }
    Some(match current {
        None => 0,
        Some(i) if step > 0 => (i + 1).min(len - 1),
        Some(i) => i.saturating_sub(1),
    })
}

#[cfg(target_arch = "wasm32")]
fn on_key(ev: &leptos::ev::KeyboardEvent) {
    use leptos::wasm_bindgen::JsCast;
    if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
        return;
    }
    let typing = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| {
            matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                || e.closest("[contenteditable]").ok().flatten().is_some()
        });
    let Some(step) = step(&ev.key()).filter(|_| !typing) else {
        return;
    };
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(rows) = doc.query_selector_all("li.entry") else {
        return;
    };
    let active = doc.active_element();
    let len = rows.length() as usize;
    let current = (0..len).find(|i| {
        let row = rows.item(*i as u32);
        matches!((&row, &active), (Some(r), Some(a)) if r == a.unchecked_ref::<web_sys::Node>())
    });
    if let Some(i) = next_index(current, step, len) {
        if let Some(row) = rows
            .item(i as u32)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        {
            ev.prevent_default();
            let _ = row.focus();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn j_and_k_move_within_the_list() {
        assert_eq!(step("j"), Some(1));
        assert_eq!(step("k"), Some(-1));
        assert_eq!(step("x"), None);
        assert_eq!(next_index(None, 1, 3), Some(0));
        assert_eq!(next_index(Some(0), 1, 3), Some(1));
        assert_eq!(next_index(Some(2), 1, 3), Some(2), "stays on the last");
        assert_eq!(next_index(Some(0), -1, 3), Some(0), "stays on the first");
        assert_eq!(next_index(Some(2), -1, 3), Some(1));
        assert_eq!(next_index(None, 1, 0), None);
    }
}
