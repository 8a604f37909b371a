use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::home_view;
use crate::components::{FlashBox, LoadError};

#[component]
pub fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").filter(|s| !s.is_empty()));
    let view = Resource::new(q, |q| home_view(q, None));
    view! {
        <Title text="Repositories"/>
        <h1>"Repositories"</h1>
        <form method="get" action="/" role="search" class="search">
            <label for="q">"Search repositories"</label>
            <input id="q" name="q" type="search" value=q/>
            <button type="submit">"Search"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(v) => {
                        let new_link = v.signed_in.then(|| view! { <p><a class="button" href="/new">"New repository"</a></p> });
                        let list = if v.repos.items.is_empty() {
                            view! { <p class="empty">"No repositories yet."</p> }.into_any()
                        } else {
                            view! {
                                <p class="count">{format!("{} repositories", v.repos.total)}</p>
                                <ul class="repos">
                                    {v.repos.items.into_iter().map(|r| view! {
                                        <li>
                                            <a href=format!("/r/{}/{}", r.owner, r.name)>{r.full_name.clone()}</a>
                                            <p>{r.description.clone()}</p>
                                        </li>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        };
                        view! { <FlashBox flash=v.flash/>{new_link}{list} }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
