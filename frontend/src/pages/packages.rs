//! `/r/OWNER/REPO/packages`: the repo's packages with stored sources (git or URLs), their
//! newest published versions and builds; packagers store, build and delete them with plain
//! forms (no JavaScript needed).

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{package_view, packages_view};
use crate::components::{repo_params, BuildTable, Csrf, LoadError, RepoTabs, Time};
use crate::forms::Flash;
use crate::pages::upload::SourceFields;

#[component]
pub fn PackagesPage() -> impl IntoView {
    let data = Resource::new(repo_params(), |(o, r)| packages_view(o, r));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        let base = format!("/forms/r/{}/{}/packages", r.owner, r.name);
                        let can = v.head.can.submit;
                        let csrf = v.head.csrf.clone();
                        let flash = v.head.flash.clone();
                        view! {
                            <Title text=format!("Packages · {}", r.full_name)/>
                            <RepoTabs head=v.head.clone() current="packages"/>
                            {if v.packages.is_empty() {
                                view! { <p class="empty">"No packages keep their source here yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="packages">
                                        <thead><tr><th scope="col">"Package"</th><th scope="col">"Source"</th><th scope="col">"Published"</th><th scope="col">"Builds"</th>{can.then(|| view! { <th scope="col">"Actions"</th> })}</tr></thead>
                                        <tbody>
                                            {v.packages.into_iter().map(|p| {
                                                let act = format!("{base}/{}", p.name);
                                                view! {
                                                    <tr id=format!("package-{}", p.name)>
                                                        <th scope="row"><a href=format!("/r/{}/{}/packages/{}", r.owner, r.name, p.name)>{p.name.clone()}</a>
                                                            {p.auto_rebuild.then(|| view! { <p class="muted">"rebuilt on push"</p> })}</th>
                                                        <td><code>{p.source.display()}</code></td>
                                                        <td><ul class="plain">
                                                            {p.published.iter().map(|v| view! {
                                                                <li>{format!("{} {}-{}.{}", v.chroot, v.name, v.evr(), v.arch)}</li>
                                                            }).collect_view()}
                                                        </ul></td>
                                                        <td><ul class="plain">
                                                            {p.builds.iter().take(5).map(|id| view! {
                                                                <li><a href=format!("/r/{}/{}/builds/{id}", r.owner, r.name)>{format!("#{id}")}</a></li>
                                                            }).collect_view()}
                                                        </ul></td>
                                                        {can.then(|| view! {
                                                            <td><PackageActions action=act.clone() name=p.name.clone() csrf=csrf.clone()/></td>
                                                        })}
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                            {can.then(|| view! { <PackageForm action=base.clone() csrf=csrf.clone() flash=flash.clone()/> })}
                            {v.head.can.source_secrets.then(|| view! {
                                <p class="note">"Packages marked “rebuilt on push” are rebuilt by the forge hook: its URL, secret, deliveries and the git credentials are in the "<a href=format!("/r/{}/{}/settings#forge", r.owner, r.name)>"settings"</a>"."</p>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Stores a package's source (or replaces it).
#[component]
fn PackageForm(action: String, csrf: String, flash: Flash) -> impl IntoView {
    let f = |name: &str| flash.value("package", name, "");
    let err = |name: &str| {
        flash
            .field("package", name)
            .map(|e| view! { <p class="field-error" role="alert">{e}</p> })
    };
    view! {
        <section aria-labelledby="store-package">
            <h3 id="store-package">"Store a package's source"</h3>
            <form method="post" action=action class="stack">
                <Csrf token=csrf/>
                <label for="pkg-name">"Package name"</label>
                <input type="text" id="pkg-name" name="name" required value=f("name")/>
                {err("name")}
                <SourceFields form="package" prefix="pkg" flash=flash.clone()/>
                <div class="check">
                    <input type="checkbox" id="pkg-auto" name="auto_rebuild" value="on" checked=flash.checked("package", "auto_rebuild", "on", false)/>
                    <label for="pkg-auto">"Rebuild when the forge reports a push"</label>
                </div>
                <button type="submit">"Store"</button>
            </form>
        </section>
    }
}

/// `/r/OWNER/REPO/packages/NAME`: one package: its source, what of it is published, its
/// builds with their state, and (for packagers) "build it now" and "delete".
#[component]
pub fn PackagePage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("owner").unwrap_or_default(),
                p.get("repo").unwrap_or_default(),
                p.get("name").unwrap_or_default(),
            )
        })
    };
    let data = Resource::new(key, |(o, r, n)| package_view(o, r, n));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        let p = v.package.clone();
                        let act = format!("/forms/r/{}/{}/packages/{}", r.owner, r.name, p.name);
                        let csrf = v.head.csrf.clone();
                        view! {
                            <Title text=format!("{} · {}", p.name, r.full_name)/>
                            <RepoTabs head=v.head.clone() current="packages"/>
                            <h2>{p.name.clone()}</h2>
                            <dl class="facts">
                                <dt>"Source"</dt><dd><code>{p.source.display()}</code></dd>
                                <dt>"On push"</dt><dd>{if p.auto_rebuild { "rebuilt when its forge reports a push" } else { "not rebuilt" }}</dd>
                                <dt>"Stored"</dt><dd><Time t=p.created_at/>", changed "<Time t=p.updated_at/></dd>
                            </dl>
                            <h3>"Published"</h3>
                            {if p.published.is_empty() {
                                view! { <p class="muted">"Nothing of it is published yet."</p> }.into_any()
                            } else {
                                view! {
                                    <ul class="plain">
                                        {p.published.iter().map(|v| view! {
                                            <li>{format!("{} {}-{}.{}", v.chroot, v.name, v.evr(), v.arch)}</li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }}
                            <h3>"Builds"</h3>
                            <BuildTable builds=v.builds.clone() owner=r.owner.clone() repo=r.name.clone()/>
                            {v.head.can.submit.then(|| view! {
                                <div class="actions"><PackageActions action=act.clone() name=p.name.clone() csrf=csrf.clone()/></div>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// "Build NAME now" and "Delete NAME", as plain forms posting to `action`/build and /delete.
#[component]
fn PackageActions(action: String, name: String, csrf: String) -> impl IntoView {
    view! {
        <form method="post" action=format!("{action}/build") class="inline">
            <Csrf token=csrf.clone()/>
            <button type="submit">{format!("Build {name} now")}</button>
        </form>
        <form method="post" action=format!("{action}/delete") class="inline">
            <Csrf token=csrf/>
            <button type="submit" class="danger">{format!("Delete {name}")}</button>
        </form>
    }
}
