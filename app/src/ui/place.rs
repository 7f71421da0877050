//! Keeping the reader's place in a feed: leaving it by a link remembers how many
//! entries were loaded and how far down the page was (in the browser's session
//! storage, per view); coming back loads as many again and scrolls there. A place
//! is used once.

/// How far the reader had got in a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub loaded: usize,
    pub scroll: i32,
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
const PREFIX: &str = "stele.place:";

impl Place {
    fn encode(self) -> String {
        format!("{},{}", self.loaded, self.scroll)
    }

    fn decode(text: &str) -> Option<Place> {
        let (loaded, scroll) = text.split_once(',')?;
        Some(Place {
            loaded: loaded.parse().ok()?,
            scroll: scroll.parse().ok()?,
        })
    }
}

/// Remembers the place in the view `key` (the page's path and query).
pub fn keep(key: &str, loaded: usize) {
    #[cfg(target_arch = "wasm32")]
    if let Some(w) = web_sys::window() {
        let scroll = w.scroll_y().unwrap_or(0.0) as i32;
        if let Ok(Some(s)) = w.session_storage() {
            let _ = s.set_item(
                &format!("{PREFIX}{key}"),
                &Place { loaded, scroll }.encode(),
            );
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (key, loaded, Place::encode);
}

/// The place remembered for the view `key`, forgotten as it is read.
pub fn take(key: &str) -> Option<Place> {
    #[cfg(target_arch = "wasm32")]
    {
        let s = web_sys::window()?.session_storage().ok()??;
        let full = format!("{PREFIX}{key}");
        let text = s.get_item(&full).ok()??;
        let _ = s.remove_item(&full);
        Place::decode(&text)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (key, Place::decode);
        None
    }
}

/// Scrolls to `y` once the page has drawn what was just loaded.
pub fn scroll_to(y: i32) {
    #[cfg(target_arch = "wasm32")]
    leptos::prelude::request_animation_frame(move || {
        if let Some(w) = web_sys::window() {
            w.scroll_to_with_x_and_y(0.0, f64::from(y));
        }
    });
    #[cfg(not(target_arch = "wasm32"))]
    let _ = y;
}

/// Whether a click follows a link (a plain left click on an `<a href>`).
pub fn is_link_click(ev: &leptos::ev::MouseEvent) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        use leptos::wasm_bindgen::JsCast;
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() {
            return false;
        }
        ev.target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("a[href]").ok().flatten())
            .is_some()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ev;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_round_trips_and_junk_is_no_place() {
        let p = Place {
            loaded: 150,
            scroll: 4321,
        };
        assert_eq!(Place::decode(&p.encode()), Some(p));
        for junk in ["", "12", "a,b", "1,2,3"] {
            assert_eq!(Place::decode(junk), None, "{junk}");
        }
    }
}
