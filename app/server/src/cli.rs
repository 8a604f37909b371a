//! The `kiln` command line: the server (`serve`, `migrate`), site administration (`admin …`,
//! working on the database directly) and the packager client (`repo …`, over the HTTP API with
//! `KILN_URL`/`KILN_TOKEN` or `~/.config/kiln/client.toml`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kiln_core::config::LogFormat;
use kiln_core::services::{accounts, agents, tokens};
use kiln_core::{Config, Kiln, Principal};
use kiln_proto::{Page, Repo, RepoCreate, TokenCreate};

use crate::client::{api_error, client_config};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Build RPM packages and host them as dnf repositories"
)]
struct Cli {
    /// TOML configuration file (see deploy/kiln.sample.toml).
    #[arg(long, global = true, env = "KILN_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (defaults: SQLite and objects under ./kiln-data, 127.0.0.1:8080).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Site administration, straight on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Repos, through the HTTP API.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Upload SRPMs, or name a git or URL source, and build them in OWNER/REPO (KILN_URL,
    /// KILN_TOKEN).
    Build {
        /// OWNER/REPO
        repo: String,
        /// SRPM files.
        #[arg(required_unless_present_any = ["git", "url"], conflicts_with_all = ["git", "url"])]
        srpms: Vec<PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
        /// Mock configs to build in (repeatable; default: all enabled).
        #[arg(long = "chroot")]
        chroots: Vec<String>,
        /// Build, but never publish.
        #[arg(long)]
        scratch: bool,
        /// Skip the packages' %check (mock's and rpmbuild's --nocheck).
        #[arg(long)]
        nocheck: bool,
        /// Wait for the builds, showing their progress; exit non-zero if one fails.
        #[arg(long)]
        wait: bool,
    },
    /// Follow a task's build log until it ends; exit non-zero unless it succeeded.
    Watch { task: i32 },
    /// Packages with stored sources (KILN_URL, KILN_TOKEN).
    #[command(subcommand)]
    Package(PackageCommand),
    /// A repo's forge push hook and git credentials (KILN_URL, KILN_TOKEN; rel-eng).
    #[command(subcommand)]
    Forge(ForgeCommand),
    /// A repo's read tokens, for dnf on machines that download a private repo (KILN_URL,
    /// KILN_TOKEN; repo admins).
    #[command(subcommand)]
    ReadToken(ReadTokenCommand),
    /// Groups, which own repos as `@GROUP` (KILN_URL, KILN_TOKEN).
    #[command(subcommand)]
    Group(GroupCommand),
}

/// `kiln read-token …`.
#[derive(Subcommand)]
enum ReadTokenCommand {
    /// Make a read token and print it once, with the lines that set a machine up.
    Create {
        /// OWNER/REPO
        repo: String,
        /// A name for it (the machine or team that downloads).
        name: String,
        /// It stops working after this many days (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// The repo's read tokens.
    List {
        /// OWNER/REPO
        repo: String,
    },
    /// Revoke a read token: the next download with it is refused.
    Revoke {
        /// OWNER/REPO
        repo: String,
        /// The token's id (`kiln read-token list`).
        id: i32,
    },
}

/// `kiln group …`.
#[derive(Subcommand)]
enum GroupCommand {
    /// Your groups (every group, for site admins).
    List,
    /// A group and its members.
    Show { group: String },
    /// Create a local group (site admins).
    Create { group: String },
    /// Add a user to a group (site admins).
    AddMember { group: String, username: String },
    /// Remove a user from a group (site admins).
    RemoveMember { group: String, username: String },
    /// Set the role the owning group's members have in `@GROUP/REPO` (repo admins).
    SetRole {
        /// @GROUP/REPO
        repo: String,
        /// packager, releng or admin
        role: String,
    },
}

/// `kiln forge …`.
#[derive(Subcommand)]
enum ForgeCommand {
    /// The hook's URL, whether a secret is set, the git credentials, the latest deliveries.
    Show {
        /// OWNER/REPO
        repo: String,
    },
    /// Set a new hook secret (the old one stops working) and print it, once.
    RotateSecret {
        /// OWNER/REPO
        repo: String,
    },
    /// Store the credential sent to HOST when agents fetch this repo's private git sources
    /// over HTTPS; the password or token is read from standard input.
    SetCredential {
        /// OWNER/REPO
        repo: String,
        /// The git host (`git.example.org`, or `host:port`).
        host: String,
        /// The user name to send (forges that take a token accept e.g. `oauth2`).
        #[arg(long)]
        username: String,
    },
    /// Remove the credential for HOST.
    DeleteCredential {
        /// OWNER/REPO
        repo: String,
        /// The git host.
        host: String,
    },
}

/// A git or URL source, from the command line.
#[derive(clap::Args)]
struct SourceArgs {
    /// Build from this git clone URL (an agent makes the SRPM).
    #[arg(long, conflicts_with = "url")]
    git: Option<String>,
    /// The branch, tag or commit to build (default: the remote's default branch).
    #[arg(long = "ref", requires = "git")]
    reference: Option<String>,
    /// The tree's directory holding the spec.
    #[arg(long, requires = "git")]
    subdir: Option<String>,
    /// The spec's file name in that directory (default: the only *.spec there).
    #[arg(long, requires = "git")]
    spec: Option<String>,
    /// Make the SRPM with the tree's .copr/Makefile (Copr's make_srpm).
    #[arg(long, requires = "git")]
    make_srpm: bool,
    /// Build from this URL of a .src.rpm, or of a .spec whose SourceN URLs are fetched.
    #[arg(long)]
    url: Option<String>,
}

impl SourceArgs {
    /// The source given, if one was.
    fn source(self) -> Option<kiln_proto::Source> {
        match (self.git, self.url) {
            (Some(url), _) => Some(kiln_proto::Source::Git {
                url,
                reference: self.reference.unwrap_or_default(),
                subdir: self.subdir.unwrap_or_default(),
                spec: self.spec.unwrap_or_default(),
                method: if self.make_srpm {
                    kiln_proto::SrpmMethod::MakeSrpm
                } else {
                    kiln_proto::SrpmMethod::Rpmbuild
                },
            }),
            (None, Some(url)) => Some(kiln_proto::Source::Url { url }),
            (None, None) => None,
        }
    }
}

/// `kiln package …`: packages with stored sources.
#[derive(Subcommand)]
enum PackageCommand {
    /// Store (or replace) a package's source: --git URL [--ref R] [--subdir D] [--spec F], or
    /// --url URL.
    Set {
        /// OWNER/REPO
        repo: String,
        /// The package's name.
        name: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Rebuild it when its forge reports a push.
        #[arg(long)]
        auto_rebuild: bool,
    },
    /// Build a package now from its stored source.
    Build {
        /// OWNER/REPO
        repo: String,
        /// The package's name.
        name: String,
        /// Mock configs to build in (repeatable; default: all enabled).
        #[arg(long = "chroot")]
        chroots: Vec<String>,
        /// Build, but never publish.
        #[arg(long)]
        scratch: bool,
        /// Wait for the build, showing its progress; exit non-zero if it fails.
        #[arg(long)]
        wait: bool,
    },
    /// List a repo's packages: source, builds, newest published versions.
    List {
        /// OWNER/REPO
        repo: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user (a local account when a password is given).
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        site_admin: bool,
        /// File holding the password (`-` for standard input).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Create a personal API token for a user; prints only the token.
    CreateToken {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Create a registration token for builder agents; prints only the token.
    AgentToken {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Create a repo owned by you (or by a group you are in).
    Create {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Base chroots to add mock configs for (repeatable).
        #[arg(long = "chroot")]
        chroots: Vec<String>,
        /// Only members (and site admins) can see it.
        #[arg(long)]
        private: bool,
        /// Owned by this group (`@GROUP` or `GROUP`), whose members get a role in it.
        #[arg(long)]
        group: Option<String>,
    },
    /// List repos.
    List {
        #[arg(long)]
        owner: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    Config::load(path.map(|p| p.as_path()), std::env::vars())
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn,pgp=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The system acting on behalf of a site admin at the console.
fn console() -> Principal {
    Principal::User(kiln_core::UserPrincipal {
        id: 0,
        username: "console".into(),
        is_site_admin: true,
        groups: vec![],
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => {
            let config = load_config(cli.config.as_ref())?;
            init_tracing(config.log_format);
            serve(config).await
        }
        Command::Migrate => {
            let config = load_config(cli.config.as_ref())?;
            let db = kiln_core::db::connect(&config).await?;
            kiln_core::db::migrate(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Admin(cmd) => {
            let config = load_config(cli.config.as_ref())?;
            let kiln = Kiln::open(config).await?;
            admin(&kiln, cmd).await
        }
        Command::Repo(cmd) => repo(cmd).await,
        Command::Build {
            repo,
            srpms,
            source,
            chroots,
            scratch,
            nocheck,
            wait,
        } => {
            let options = crate::client::BuildOptions {
                scratch,
                nocheck,
                wait,
            };
            match source.source() {
                Some(source) => crate::client::build_source(&repo, source, &chroots, options).await,
                None => crate::client::build(&repo, &srpms, &chroots, options).await,
            }
        }
        Command::Package(cmd) => match cmd {
            PackageCommand::Set {
                repo,
                name,
                source,
                auto_rebuild,
            } => {
                let source = source
                    .source()
                    .context("give the package's source: --git URL or --url URL")?;
                crate::client::package_set(&repo, &name, source, auto_rebuild).await
            }
            PackageCommand::Build {
                repo,
                name,
                chroots,
                scratch,
                wait,
            } => crate::client::package_build(&repo, &name, &chroots, scratch, wait).await,
            PackageCommand::List { repo } => crate::client::package_list(&repo).await,
        },
        Command::Watch { task } => crate::client::watch(task).await,
        Command::Forge(cmd) => match cmd {
            ForgeCommand::Show { repo } => crate::client_forge::show(&repo).await,
            ForgeCommand::RotateSecret { repo } => crate::client_forge::rotate_secret(&repo).await,
            ForgeCommand::SetCredential {
                repo,
                host,
                username,
            } => crate::client_forge::credential_set(&repo, &host, &username).await,
            ForgeCommand::DeleteCredential { repo, host } => {
                crate::client_forge::credential_delete(&repo, &host).await
            }
        },
        Command::ReadToken(cmd) => match cmd {
            ReadTokenCommand::Create {
                repo,
                name,
                expires_days,
            } => crate::client_access::read_token_create(&repo, &name, expires_days).await,
            ReadTokenCommand::List { repo } => crate::client_access::read_token_list(&repo).await,
            ReadTokenCommand::Revoke { repo, id } => {
                crate::client_access::read_token_revoke(&repo, id).await
            }
        },
        Command::Group(cmd) => {
            use crate::client_access::{group_call, GroupCall};
            match cmd {
                GroupCommand::List => group_call(GroupCall::List).await,
                GroupCommand::Show { group } => group_call(GroupCall::Show(group)).await,
                GroupCommand::Create { group } => group_call(GroupCall::Create(group)).await,
                GroupCommand::AddMember { group, username } => {
                    group_call(GroupCall::Add(group, username)).await
                }
                GroupCommand::RemoveMember { group, username } => {
                    group_call(GroupCall::Remove(group, username)).await
                }
                GroupCommand::SetRole { repo, role } => {
                    crate::client_access::group_role(&repo, &role).await
                }
            }
        }
    }
}

pub async fn serve(mut config: Config) -> anyhow::Result<()> {
    let listen = config.listen.clone();
    // Bound now (so the implicit local builder knows its address, port 0 included) but
    // listening only once the database is migrated: nothing connects to a server not ready.
    let socket = bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let mut local = socket.local_addr()?;
    if local.ip().is_unspecified() {
        local.set_ip(if local.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    if let Some(pool) = crate::provision::default_pool(&config, &format!("http://{local}"))? {
        config.builders.pools.push(pool);
    }
    let kiln = Kiln::open(config).await?;
    tokio::spawn(kiln_core::services::cleanup::run_forever(
        kiln.clone(),
        std::time::Duration::from_secs(30),
    ));
    let app = crate::app(kiln.clone()).await?;
    let listener = socket.listen(1024)?;
    if let Some(addr) = kiln.config.metrics_listen.clone() {
        let metrics = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening on {addr} (metrics_listen)"))?;
        let app = crate::routes::metrics_app(kiln.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(crate::no_delay(metrics), app).await {
                tracing::error!(error = %e, "metrics listener");
            }
        });
        tracing::info!(%addr, "metrics listener");
    }
    let url = kiln.config.public_url();
    println!("Kiln is running at {url}/");
    use sea_orm::{EntityTrait, PaginatorTrait};
    if kiln_core::entities::users::Entity::find()
        .count(&kiln.db)
        .await?
        == 0
    {
        println!(
            "No users yet. Create the first site admin with:\n  \
             echo 'a-long-password' > pw && kiln admin create-user --username admin --site-admin --password-file pw"
        );
    }
    let stopping = kiln.stopping.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopping.cancel();
    });
    let server = axum::serve(crate::no_delay(listener), app)
        .with_graceful_shutdown(kiln.stopping.clone().cancelled_owned());
    // Requests in flight (an upload, say) get a grace time; then the process stops anyway.
    let grace = async {
        kiln.stopping.cancelled().await;
        tokio::time::sleep(std::time::Duration::from_secs(SHUTDOWN_GRACE_SECONDS)).await;
    };
    tokio::select! {
        r = server => r?,
        _ = grace => tracing::warn!(seconds = SHUTDOWN_GRACE_SECONDS, "requests still in flight after the grace time; stopping anyway"),
    }
    crate::provision::stopped(std::time::Duration::from_secs(10)).await;
    tracing::info!("stopped");
    Ok(())
}

/// A socket bound to the first address `listen` resolves to, not yet listening.
async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpSocket> {
    let addr = tokio::net::lookup_host(listen)
        .await?
        .next()
        .context("the address resolves to nothing")?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// Seconds requests in flight may take to finish once the server stops.
const SHUTDOWN_GRACE_SECONDS: u64 = 30;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn admin(kiln: &Kiln, cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateUser {
            username,
            site_admin,
            password_file,
        } => {
            let password = match password_file {
                None => None,
                Some(p) if p.as_os_str() == "-" => {
                    let mut s = String::new();
                    std::io::stdin().read_line(&mut s)?;
                    Some(s.trim_end_matches(['\n', '\r']).to_owned())
                }
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_owned(),
                ),
            };
            let user =
                accounts::create_user(kiln, &username, password.as_deref(), site_admin).await?;
            eprintln!(
                "created {}{}",
                user.username,
                if user.is_site_admin {
                    " (site admin)"
                } else {
                    ""
                }
            );
        }
        AdminCommand::CreateToken {
            username,
            name,
            expires_in_days,
        } => {
            let user = accounts::find_by_username(kiln, &username)
                .await?
                .with_context(|| format!("there is no user named {username}"))?;
            let expires_at =
                expires_in_days.map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d));
            let created = tokens::create_for_user(
                kiln,
                &console(),
                user.id,
                TokenCreate { name, expires_at },
            )
            .await?;
            println!("{}", created.token);
        }
        AdminCommand::AgentToken { name } => {
            let token = agents::create_registration_token(kiln, &console(), &name).await?;
            println!("{}", token.expose());
        }
    }
    Ok(())
}

async fn repo(cmd: RepoCommand) -> anyhow::Result<()> {
    let cfg = client_config()?;
    let http = reqwest::Client::new();
    let auth = |r: reqwest::RequestBuilder| match &cfg.token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    match cmd {
        RepoCommand::Create {
            name,
            description,
            chroots,
            private,
            group,
        } => {
            let resp = auth(http.post(format!("{}/api/v1/repos", cfg.url)))
                .json(&RepoCreate {
                    name,
                    description,
                    chroots,
                    visibility: private.then_some(kiln_proto::Visibility::Private),
                    owner: group.map(|g| format!("@{}", g.trim_start_matches('@'))),
                })
                .send()
                .await
                .with_context(|| format!("reaching {}", cfg.url))?;
            if !resp.status().is_success() {
                return Err(api_error(resp).await);
            }
            let repo: Repo = resp.json().await?;
            println!("created {}", repo.full_name);
        }
        RepoCommand::List { owner } => {
            let mut page = 1;
            loop {
                let mut req = auth(http.get(format!("{}/api/v1/repos", cfg.url)))
                    .query(&[("page", page.to_string())]);
                if let Some(o) = &owner {
                    req = req.query(&[("owner", o)]);
                }
                let resp = req
                    .send()
                    .await
                    .with_context(|| format!("reaching {}", cfg.url))?;
                if !resp.status().is_success() {
                    return Err(api_error(resp).await);
                }
                let list: Page<Repo> = resp.json().await?;
                for r in &list.items {
                    println!(
                        "{}\t{}",
                        r.full_name,
                        r.description.lines().next().unwrap_or("")
                    );
                }
                if list.page * list.per_page >= list.total {
                    break;
                }
                page += 1;
            }
        }
    }
    Ok(())
}
