use kiln_proto::TaskState;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::builds_view;
use crate::components::{repo_params, BuildTable, LoadError, RepoTabs};

#[component]
pub fn BuildsPage() -> impl IntoView {
    let params = repo_params();
    let query = use_query_map();
    let q = move |k: &str| query.with(|m| m.get(k).filter(|s| !s.is_empty()));
    let key = move || {
        let (o, r) = params();
        (
            o,
            r,
            q("state"),
            q("package"),
            q("chroot"),
            q("page").and_then(|p| p.parse::<u64>().ok()),
        )
    };
    let data = Resource::new(key, |(o, r, s, p, c, page)| {
        builds_view(o, r, s, p, c, page)
    });
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        let (owner, name) = (r.owner.clone(), r.name.clone());
                        let state = q("state").unwrap_or_default();
                        let package = q("package").unwrap_or_default();
                        let chroot = q("chroot").unwrap_or_default();
                        let pages = v.builds.total.div_ceil(v.builds.per_page.max(1));
                        let page = v.builds.page;
                        let link = {
                            let (state, package, chroot) = (state.clone(), package.clone(), chroot.clone());
                            let (owner, name) = (owner.clone(), name.clone());
                            move |n: u64| {
                                let mut s = format!("/r/{owner}/{name}/builds?page={n}");
                                for (k, val) in [("state", &state), ("package", &package), ("chroot", &chroot)] {
                                    if !val.is_empty() {
                                        s.push_str(&format!("&{k}={}", urlencode(val)));
                                    }
                                }
                                s
                            }
                        };
                        view! {
                            <Title text=format!("Builds · {}", r.full_name)/>
                            <RepoTabs head=v.head.clone() current="builds"/>
                            <form method="get" action=format!("/r/{owner}/{name}/builds") class="filters" role="search" aria-label="Filter builds">
                                <div>
                                    <label for="f-state">"State"</label>
                                    <select id="f-state" name="state">
                                        <option value="" selected=state.is_empty()>"any"</option>
                                        {TaskState::ALL.into_iter().map(|s| view! {
                                            <option value=s.as_str() selected=state == s.as_str()>{s.as_str()}</option>
                                        }).collect_view()}
                                    </select>
                                </div>
                                <div>
                                    <label for="f-package">"Package"</label>
                                    <input id="f-package" name="package" value=package.clone()/>
                                </div>
                                <div>
                                    <label for="f-chroot">"Mock config"</label>
                                    <select id="f-chroot" name="chroot">
                                        <option value="" selected=chroot.is_empty()>"any"</option>
                                        {v.configs.iter().map(|c| view! {
                                            <option value=c.clone() selected=chroot == *c>{c.clone()}</option>
                                        }).collect_view()}
                                    </select>
                                </div>
                                <button type="submit">"Filter"</button>
                            </form>
                            <p class="count">{format!("{} builds", v.builds.total)}</p>
                            {if v.builds.items.is_empty() {
                                view! { <p class="empty">"No builds match."</p> }.into_any()
                            } else {
                                view! { <BuildTable builds=v.builds.items.clone() owner=owner.clone() repo=name.clone()/> }.into_any()
                            }}
                            {(pages > 1).then(|| view! {
                                <nav class="pager" aria-label="Pages">
                                    {(page > 1).then(|| view! { <a rel="prev" href=link(page - 1)>"Newer"</a> })}
                                    <span>{format!("page {page} of {pages}")}</span>
                                    {(page < pages).then(|| view! { <a rel="next" href=link(page + 1)>"Older"</a> })}
                                </nav>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
