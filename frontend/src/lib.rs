//! The wasm entry: mounts Stele's app, client-side rendered.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    // The static frame `index.html` painted while this module loaded gives way to
    // the app.
    if let Some(frame) = leptos::prelude::document().get_element_by_id("frame") {
        frame.remove();
    }
    leptos::mount::mount_to_body(app::App);
}
