use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::session_info;
use crate::components::{error_text, ErrorMessage};

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = Resource::new(|| (), |_| session_info());
    let query = use_query_map();
    let next = move || query.with(|m| m.get("next")).unwrap_or_default();
    view! {
        <Title text="Sign in"/>
        <div class="narrow">
            <h1>"Sign in"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.await {
                        Ok(s) => {
                            let csrf = s.csrf_token.clone().unwrap_or_default();
                            view! {
                                {s.user.map(|u| view! { <p class="note">{format!("You are signed in as {}.", u.username)}</p> })}
                                <ul class="providers">
                                    {s.login.providers.into_iter().map(|p| view! {
                                        <li><a class="button" rel="external" href=format!("/auth/oidc/{}/start", p.id)>
                                            {format!("Sign in with {}", p.display_name)}
                                        </a></li>
                                    }).collect_view()}
                                </ul>
                                {s.login.local_enabled.then(|| view! {
                                    <form method="post" action="/auth/login" class="stack">
                                        <input type="hidden" name="csrf_token" value=csrf.clone()/>
                                        <input type="hidden" name="next" value=next/>
                                        <label for="username">"Username"</label>
                                        <input id="username" name="username" autocomplete="username" required/>
                                        <label for="password">"Password"</label>
                                        <input id="password" name="password" type="password" autocomplete="current-password" required/>
                                        <button type="submit">"Sign in"</button>
                                    </form>
                                })}
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorMessage message=error_text(&e)/> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}
