use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::get_repo;
use crate::components::{error_text, ErrorMessage};

#[component]
pub fn RepoPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("owner").unwrap_or_default(),
                p.get("repo").unwrap_or_default(),
            )
        })
    };
    let repo = Resource::new(key, |(o, r)| get_repo(o, r));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match repo.await {
                    Ok(v) => {
                        let r = v.repo;
                        let base = format!("{}/repos/{}/{}", v.public_url, r.owner, r.name);
                        let repo_file = format!("{base}/{}-{}.repo", r.owner, r.name);
                        let release_rpm = format!("{base}/{}-{}-release.noarch.rpm", r.owner, r.name);
                        let host = v.public_url.split("://").nth(1).unwrap_or_default().to_owned();
                        view! {
                            <Title text=r.full_name.clone()/>
                            <h1>{r.full_name.clone()}</h1>
                            <p class="description">{r.description.clone()}</p>
                            <section aria-labelledby="install">
                                <h2 id="install">"Install"</h2>
                                <p>"Add this repository with its release package:"</p>
                                <pre><code>{format!("dnf install {release_rpm}")}</code></pre>
                                <p>"or with the dnf copr plugin:"</p>
                                <pre><code>{format!("dnf copr enable --hub {host} {}", r.full_name)}</code></pre>
                                <p>"or download the " <a href=repo_file.clone()>".repo file"</a> "."</p>
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
                                                        <td>{c.name.clone()}</td>
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
                    Err(e) => view! { <Title text="Not found"/><h1>"Repository"</h1><ErrorMessage message=error_text(&e)/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
