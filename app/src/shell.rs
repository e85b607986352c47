use leptos::prelude::*;
use leptos_meta::MetaTags;

use crate::App;

/// The HTML document around every server-rendered page. `css_href` carries the content hash of
/// the stylesheet when the build hashes its files.
pub fn shell(options: LeptosOptions, css_href: String) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href=css_href/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Islands: only the interactive parts (menus, forms, copy buttons) ship as wasm;
                // everything else stays server-rendered HTML.
                <IdleDeadline/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Gives the islands loader's wait for idle time a deadline. It asks `requestIdleCallback` with
/// none, and Chromium may grant a cross-site frame no idle time until it is clicked (the embedded
/// wizard then stayed at "Starting…"; Shopify's Hydrogen met the same, hydrogen#667), and defers
/// idle work for long in Battery Saver. A classic inline script runs before the loader's module
/// script, so the loader already asks through this.
#[component]
fn IdleDeadline() -> impl IntoView {
    const SCRIPT: &str =
        "(()=>{const r=window.requestIdleCallback;if(r)window.requestIdleCallback=\
        (c,o)=>r.call(window,c,Object.assign({timeout:200},o))})()";
    view! { <script nonce=leptos::nonce::use_nonce()>{SCRIPT}</script> }
}
