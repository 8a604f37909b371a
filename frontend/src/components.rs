//! Pieces every page uses: the header with the account menu, error and loading states.

use leptos::prelude::*;

use crate::api::session_info;

#[component]
pub fn Header() -> impl IntoView {
    let session = Resource::new(|| (), |_| session_info());
    view! {
        <header class="site">
            <a class="skip" href="#main">"Skip to content"</a>
            <a class="brand" href="/">"Kiln"</a>
            <nav aria-label="Account">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.await {
                            Ok(s) => match (s.user, s.csrf_token) {
                                (Some(user), csrf) => view! {
                                    <span class="who">{user.username}</span>
                                    <form method="post" action="/auth/logout" class="inline">
                                        <input type="hidden" name="csrf_token" value=csrf.unwrap_or_default()/>
                                        <button type="submit" class="link">"Sign out"</button>
                                    </form>
                                }.into_any(),
                                (None, _) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                            },
                            Err(_) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
    }
}

#[component]
pub fn ErrorMessage(message: String) -> impl IntoView {
    view! { <p class="error" role="alert">{message}</p> }
}

/// `ServerFnError`'s text without the framework's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    let s = e.to_string();
    s.split_once(": ").map(|(_, m)| m.to_owned()).unwrap_or(s)
}
