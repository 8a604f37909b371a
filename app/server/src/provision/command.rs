//! The `command` provider: Copr's resalloc model, the site admin's programs allocate and
//! release machines.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use kiln_core::config::PoolConfig;
use kiln_core::entities::builders as rows;
use kiln_core::services::provision::{AllocateRequest, Provider};
use tokio::io::AsyncReadExt;

/// Copr's resalloc model: the site admin's programs allocate and release machines.
pub(super) struct CommandProvider {
    pub(super) pool: PoolConfig,
}

/// Runs `argv` with `env`; its standard output's last non-empty line, or an error with the
/// end of what it wrote to standard error.
async fn run(argv: &[String], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let (program, args) = argv.split_first().context("no program configured")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut out = String::new();
    let mut err = String::new();
    let (mut so, mut se) = (
        child.stdout.take().context("stdout")?,
        child.stderr.take().context("stderr")?,
    );
    let status = tokio::time::timeout(Duration::from_secs(300), async {
        let (a, b) = tokio::join!(so.read_to_string(&mut out), se.read_to_string(&mut err));
        a?;
        b?;
        child.wait().await
    })
    .await
    .with_context(|| format!("{program} took more than 300 s"))??;
    if !status.success() {
        let tail: String = err
            .trim()
            .chars()
            .rev()
            .take(500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        anyhow::bail!("{program} exited with {status}: {tail}");
    }
    Ok(out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_owned())
}

#[async_trait::async_trait]
impl Provider for CommandProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        let capacity = req.capacity.to_string();
        let id = run(
            &self.pool.allocate,
            &[
                ("KILN_POOL", &req.pool),
                ("KILN_ARCH", &req.arch),
                ("KILN_BUILDER_NAME", &req.name),
                ("KILN_CAPACITY", &capacity),
                ("KILN_SERVER", &req.server),
                ("KILN_REGISTRATION_TOKEN", &req.token),
            ],
        )
        .await?;
        anyhow::ensure!(!id.is_empty(), "the allocate program printed no builder id");
        Ok(id)
    }

    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()> {
        run(
            &self.pool.release,
            &[
                ("KILN_POOL", &builder.pool),
                ("KILN_BUILDER_NAME", &builder.name),
                (
                    "KILN_BUILDER_ID",
                    builder.provider_id.as_deref().unwrap_or_default(),
                ),
            ],
        )
        .await
        .map(|_| ())
    }
}
