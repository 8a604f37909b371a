use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::get_repo;
use crate::components::{repo_params, BuildTable, CopyLine, LoadError, RepoTabs};

#[component]
pub fn RepoPage() -> impl IntoView {
    let repo = Resource::new(repo_params(), |(o, r)| get_repo(o, r));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match repo.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        let base = format!("{}/repos/{}/{}", v.public_url, r.owner, r.name);
                        let repo_file = format!("{base}/{}-{}.repo", r.owner, r.name);
                        let release_rpm = format!("{base}/{}-{}-release.noarch.rpm", r.owner, r.name);
                        let host = v.public_url.split("://").nth(1).unwrap_or_default().to_owned();
                        let can = v.head.can;
                        let (owner, name) = (r.owner.clone(), r.name.clone());
                        view! {
                            <Title text=r.full_name.clone()/>
                            <RepoTabs head=v.head.clone() current="overview"/>
                            <p class="description">{r.description.clone()}</p>
                            <section aria-labelledby="install">
                                <h2 id="install">"Install"</h2>
                                <p>"Add this repository with its release package (it carries the .repo file and the signing key):"</p>
                                <CopyLine text=format!("dnf install {release_rpm}") label="dnf install command"/>
                                <p>"or with the dnf copr plugin:"</p>
                                <CopyLine text=format!("dnf copr enable --hub {host} {}", r.full_name) label="dnf copr command"/>
                                <p>"or download the .repo file:"</p>
                                <CopyLine text=repo_file.clone() label=".repo URL"/>
                            </section>
                            <section aria-labelledby="packages">
                                <h2 id="packages">"Packages"</h2>
                                {if v.packages.is_empty() {
                                    view! { <p class="empty">"Nothing published yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <table>
                                            <thead><tr><th scope="col">"Package"</th><th scope="col">"Chroot"</th><th scope="col">"Newest version"</th><th scope="col">"Build"</th></tr></thead>
                                            <tbody>
                                                {v.packages.iter().map(|p| view! {
                                                    <tr>
                                                        <td>{p.name.clone()}</td>
                                                        <td>{p.chroot.clone()}</td>
                                                        <td>{format!("{}.{}", p.evr(), p.arch)}</td>
                                                        <td><a href=format!("/r/{owner}/{name}/builds/{}", p.build)>{format!("#{}", p.build)}</a></td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </section>
                            <section aria-labelledby="recent">
                                <h2 id="recent">"Recent builds"</h2>
                                {can.submit.then(|| view! { <p><a class="button" href=format!("/r/{owner}/{name}/upload")>"Upload SRPMs"</a></p> })}
                                {if v.recent.is_empty() {
                                    view! { <p class="empty">"No builds yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <BuildTable builds=v.recent.clone() owner=owner.clone() repo=name.clone()/>
                                        <p><a href=format!("/r/{owner}/{name}/builds")>"All builds"</a></p>
                                    }.into_any()
                                }}
                            </section>
                            <section aria-labelledby="configs">
                                <h2 id="configs">"Mock configs"</h2>
                                {if v.mock_configs.is_empty() {
                                    view! { <p class="empty">"No mock configs yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <table>
                                            <thead><tr><th scope="col">"Name"</th><th scope="col">"Base chroot"</th><th scope="col">"Arch"</th><th scope="col">"Config"</th></tr></thead>
                                            <tbody>
                                                {v.mock_configs.into_iter().map(|c| view! {
                                                    <tr>
                                                        <td>{c.name.clone()}{(!c.enabled).then_some(" (disabled)")}</td>
                                                        <td>{c.base.clone()}</td>
                                                        <td>{c.arch.clone()}</td>
                                                        <td><a rel="external" href=format!("/api/v1/repos/{}/{}/mock-configs/{}/rendered", r.owner, r.name, c.name)>"rendered"</a></td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <Title text="Not found"/><LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
