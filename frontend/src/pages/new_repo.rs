use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::new_repo_view;
use crate::components::{Csrf, FieldError, FlashBox, LoadError};

#[component]
pub fn NewRepoPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| new_repo_view());
    view! {
        <Title text="New repository"/>
        <div class="narrow">
            <h1>"New repository"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view.await {
                        Ok(v) => {
                            let f = v.flash.clone();
                            let general = f.error_of("new-repo");
                            view! {
                                <FlashBox flash=Default::default()/>
                                {general.map(|e| view! { <p class="error" role="alert">{e}</p> })}
                                <form method="post" action="/forms/repos" class="stack">
                                    <Csrf token=v.csrf.clone()/>
                                    {(!v.groups.is_empty()).then(|| {
                                        let chosen = f.value("new-repo", "owner", &v.owner);
                                        view! {
                                            <label for="repo-owner">"Owner"</label>
                                            <select id="repo-owner" name="owner" aria-describedby="repo-owner-error">
                                                <option value=v.owner.clone() selected=chosen == v.owner>{format!("{} (you)", v.owner)}</option>
                                                {v.groups.iter().map(|g| view! { <option value=g.clone() selected=chosen == *g>{format!("{g} (group)")}</option> }).collect_view()}
                                            </select>
                                            <FieldError id="repo-owner-error".into() message=f.field("new-repo", "owner")/>
                                        }
                                    })}
                                    <label for="repo-name">"Name"</label>
                                    <div class="prefixed"><span>{if v.groups.is_empty() { format!("{}/", v.owner) } else { "OWNER/".to_owned() }}</span>
                                        <input id="repo-name" name="name" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._+\\-]*"
                                            value=f.value("new-repo", "name", "") aria-describedby="repo-name-help repo-name-error"/>
                                    </div>
                                    <p class="help" id="repo-name-help">"Letters, digits, '.', '_', '+' and '-'."</p>
                                    <FieldError id="repo-name-error".into() message=f.field("new-repo", "name")/>
                                    <label for="repo-description">"Description"</label>
                                    <textarea id="repo-description" name="description" rows="3" aria-describedby="repo-description-error">{f.value("new-repo", "description", "")}</textarea>
                                    <FieldError id="repo-description-error".into() message=f.field("new-repo", "description")/>
                                    <fieldset>
                                        <legend>"Build for (a mock config per base chroot)"</legend>
                                        {v.chroots.into_iter().map(|c| {
                                            let id = format!("chroot-{}", c.name);
                                            let checked = f.checked("new-repo", "chroots", &c.name, false);
                                            view! {
                                                <div class="check">
                                                    <input type="checkbox" id=id.clone() name="chroots" value=c.name.clone() checked=checked/>
                                                    <label for=id>{c.name.clone()}</label>
                                                </div>
                                            }
                                        }).collect_view()}
                                    </fieldset>
                                    <FieldError id="repo-chroots-error".into() message=f.field("new-repo", "chroots")/>
                                    <fieldset>
                                        <legend>"Visibility"</legend>
                                        {(!v.force_private).then(|| view! {
                                            <div class="check">
                                                <input type="radio" id="repo-public" name="visibility" value="public" checked=f.value("new-repo", "visibility", if v.private_by_default { "private" } else { "public" }) != "private"/>
                                                <label for="repo-public">"Public: anyone can see it and install from it"</label>
                                            </div>
                                        })}
                                        <div class="check">
                                            <input type="radio" id="repo-private" name="visibility" value="private" checked=f.value("new-repo", "visibility", if v.private_by_default { "private" } else { "public" }) == "private"/>
                                            <label for="repo-private">"Private: only its members (a 404 for everyone else)"</label>
                                        </div>
                                    </fieldset>
                                    <button type="submit">"Create repository"</button>
                                </form>
                            }.into_any()
                        }
                        Err(e) => view! { <LoadError error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}
