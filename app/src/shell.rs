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
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}
