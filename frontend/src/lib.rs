//! The browser's entry point: hydrates the server-rendered page with the same `App` the server
//! rendered, so the HTML comes alive without being drawn twice.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(mailkey_app::App);
}
