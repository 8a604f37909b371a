use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::api::ssr::set_status(404);
    view! {
        <Title text="Not found"/>
        <h1>"Not found"</h1>
        <p>"There is no page at this address. " <a href="/">"See all repos"</a></p>
    }
}
