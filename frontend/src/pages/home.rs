use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::list_repos;
use crate::components::{error_text, ErrorMessage};

#[component]
pub fn HomePage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").filter(|s| !s.is_empty()));
    let repos = Resource::new(q, |q| list_repos(q, None));
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
                match repos.await {
                    Ok(page) if page.items.is_empty() => view! { <p class="empty">"No repositories yet."</p> }.into_any(),
                    Ok(page) => view! {
                        <p class="count">{format!("{} repositories", page.total)}</p>
                        <ul class="repos">
                            {page.items.into_iter().map(|r| view! {
                                <li>
                                    <a href=format!("/r/{}/{}", r.owner, r.name)>{r.full_name.clone()}</a>
                                    <p>{r.description.clone()}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(e) => view! { <ErrorMessage message=error_text(&e)/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
