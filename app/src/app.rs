use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use crate::{
    components::layout::{Footer, Header},
    error::PortalError,
    pages::{
        account::{AccountPage, DeleteAccountPage, RenewSecretPage},
        api_keys::ApiKeysPage,
        audit::AuditPage,
        embed::EmbedPage,
        home::HomePage,
        not_found::NotFound,
        settings::SettingsPage,
        webhooks::WebhooksPage,
        wizard::{NewAccountPage, WizardPage},
    },
    server_fns::{current_operator, OperatorView},
};

/// The signed-in operator, shared by the header and the pages.
pub type OperatorResource = Resource<Result<Option<OperatorView>, PortalError>>;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let operator: OperatorResource = Resource::new(|| (), |_| current_operator());
    provide_context(operator);

    view! {
        <Title formatter=|page: String| format!("{page} · Mailkey")/>
        <div class="app">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Router>
                <Chrome part=Part::Header/>
                <main id="main" class="main" tabindex="-1">
                    <Routes fallback=NotFound>
                        // Async: the page waits for its data, so a signed-out visitor gets a real 401 status.
                        <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                        <Route path=path!("/accounts/new") view=NewAccountPage ssr=SsrMode::Async/>
                        <Route path=path!("/accounts/:id/setup/:step?") view=WizardPage ssr=SsrMode::Async/>
                        <Route path=path!("/accounts/:id") view=AccountPage ssr=SsrMode::Async/>
                        <Route path=path!("/accounts/:id/delete") view=DeleteAccountPage ssr=SsrMode::Async/>
                        <Route path=path!("/accounts/:id/renew-secret") view=RenewSecretPage ssr=SsrMode::Async/>
                        <Route path=path!("/settings") view=SettingsPage ssr=SsrMode::Async/>
                        <Route path=path!("/api-keys") view=ApiKeysPage ssr=SsrMode::Async/>
                        <Route path=path!("/webhooks") view=WebhooksPage ssr=SsrMode::Async/>
                        <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async/>
                        <Route path=path!("/embed/:token") view=EmbedPage ssr=SsrMode::Async/>
                    </Routes>
                </main>
                <Chrome part=Part::Footer/>
            </Router>
        </div>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Header,
    Footer,
}

/// The portal's header and footer, left out of the embedded wizard (a host's page around it
/// has its own; no operator menu may appear there).
#[component]
fn Chrome(part: Part) -> impl IntoView {
    let embedded = leptos_router::hooks::use_location()
        .pathname
        .get_untracked()
        .starts_with("/embed/");
    (!embedded).then(|| match part {
        Part::Header => view! { <Header/> }.into_any(),
        Part::Footer => view! { <Footer/> }.into_any(),
    })
}
