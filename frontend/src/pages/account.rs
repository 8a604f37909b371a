use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::account_view;
use crate::components::{Csrf, FieldError, FlashBox, LoadError, Time};

#[component]
pub fn AccountPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| account_view());
    view! {
        <Title text="Account"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(v) => {
                        let f = v.flash.clone();
                        let name_err = f.field("token", "name");
                        let days_err = f.field("token", "expires_days");
                        view! {
                            <h1>"Your account"</h1>
                            <p>{format!("Signed in as {}", v.user.username)}
                                {v.user.email.clone().map(|e| format!(" ({e})"))}
                                {v.user.is_site_admin.then_some(", site administrator")}"."</p>
                            <FlashBox flash=v.flash.clone()/>
                            {(!v.groups.is_empty()).then(|| view! {
                                <p>"Your groups: "
                                    {v.groups.iter().enumerate().map(|(i, g)| view! {
                                        {(i > 0).then_some(", ")}
                                        <a href=crate::components::owner_link(g)>{g.clone()}</a>
                                    }).collect_view()}
                                </p>
                            })}
                            <section aria-labelledby="notifications">
                                <h2 id="notifications">"Notifications"</h2>
                                <form method="post" action="/forms/account/notifications" class="stack narrow-form">
                                    <Csrf token=v.csrf.clone()/>
                                    <div class="check">
                                        <input type="checkbox" id="notify-builds" name="notify_builds" value="1" checked=v.notify_builds
                                            disabled=v.user.email.is_none() aria-describedby="notify-builds-error"/>
                                        <label for="notify-builds">"E-mail me when a build I submitted ends (one e-mail per build, every chroot inside)"</label>
                                    </div>
                                    {v.user.email.is_none().then(|| view! { <p class="note">"Your account has no e-mail address: your sign-in provider gives none."</p> })}
                                    <FieldError id="notify-builds-error".into() message=f.field("notifications", "notify_builds")/>
                                    <button type="submit" disabled=v.user.email.is_none()>"Save"</button>
                                </form>
                            </section>
                            <section aria-labelledby="tokens">
                                <h2 id="tokens">"API tokens"</h2>
                                <p class="note">"Tokens let the CLI and scripts act as you: send one as "<code>"Authorization: Bearer TOKEN"</code>"."</p>
                                {if v.tokens.is_empty() {
                                    view! { <p class="empty">"No tokens."</p> }.into_any()
                                } else {
                                    view! {
                                        <table>
                                            <thead><tr><th scope="col">"Name"</th><th scope="col">"Starts with"</th><th scope="col">"Created"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                                            <tbody>
                                                {v.tokens.into_iter().map(|t| {
                                                    let csrf = v.csrf.clone();
                                                    view! {
                                                        <tr>
                                                            <td>{t.name.clone()}</td>
                                                            <td><code>{t.prefix.clone()}"…"</code></td>
                                                            <td><Time t=t.created_at/></td>
                                                            <td>{t.expires_at.map(|e| view! { <Time t=e/> }.into_any()).unwrap_or_else(|| "never".into_any())}</td>
                                                            <td>{t.last_used_at.map(|e| view! { <Time t=e/> }.into_any()).unwrap_or_else(|| "never".into_any())}</td>
                                                            <td>
                                                                <form method="post" action=format!("/forms/tokens/{}/revoke", t.id) class="inline">
                                                                    <Csrf token=csrf/>
                                                                    <button type="submit" class="danger" aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                                                                </form>
                                                            </td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                                <h3 id="copr">"Copr's clients"</h3>
                                <p class="note">"copr-cli and the copr Python library work with Kiln: put this in "<code>"~/.config/copr"</code>", with one of your API tokens in place of TOKEN (or make one for it here)."</p>
                                <pre><code>{v.copr_config.clone()}</code></pre>
                                <form method="post" action="/forms/tokens" class="inline">
                                    <Csrf token=v.csrf.clone()/>
                                    <input type="hidden" name="name" value="copr-cli"/>
                                    <input type="hidden" name="expires_days" value="0"/>
                                    <input type="hidden" name="purpose" value="copr"/>
                                    <button type="submit" class="secondary">"Make a token for copr-cli"</button>
                                </form>
                                <h3>"New token"</h3>
                                <form method="post" action="/forms/tokens" class="stack narrow-form">
                                    <Csrf token=v.csrf.clone()/>
                                    <label for="token-name">"Name"</label>
                                    <input id="token-name" name="name" required value=f.value("token", "name", "") aria-describedby="token-name-error"/>
                                    <FieldError id="token-name-error".into() message=name_err/>
                                    <label for="token-days">"Expires after (days, 0 = never)"</label>
                                    <input id="token-days" name="expires_days" type="number" min="0" max="3650" value=f.value("token", "expires_days", "90") aria-describedby="token-days-error"/>
                                    <FieldError id="token-days-error".into() message=days_err/>
                                    <button type="submit">"Create token"</button>
                                </form>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
