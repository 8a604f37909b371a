//! Kiln's web UI: Leptos pages rendered on the server (SSR) and hydrated in the browser. Every
//! form is a real `<form>` that works without JavaScript; data comes from server functions that
//! call `kiln_core` services with the caller's principal (behind the `ssr` feature).

pub mod api;
pub mod components;
pub mod forms;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The CSRF token of the browser session, placed in the request by the server's auth
/// middleware for pages with forms.
#[derive(Debug, Clone)]
pub struct SessionCsrf(pub String);

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="kiln" href="/pkg/kiln.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Kiln".to_owned() } else { format!("{t} · Kiln") }/>
        <Router>
            <components::Header/>
            <main id="main">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view=pages::HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=pages::LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/account") view=pages::AccountPage ssr=SsrMode::Async/>
                    <Route path=path!("/new") view=pages::NewRepoPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=pages::AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/groups/:name") view=pages::GroupPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo") view=pages::RepoPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/builds") view=pages::BuildsPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/builds/:id") view=pages::BuildPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/upload") view=pages::UploadPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/packages") view=pages::PackagesPage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/packages/:name") view=pages::PackagePage ssr=SsrMode::Async/>
                    <Route path=path!("/r/:owner/:repo/settings") view=pages::SettingsPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
