//! The `kubernetes` provider: a Pod per builder through the Kubernetes API, its
//! registration token in a Secret.

use anyhow::Context;
use kiln_core::config::PoolConfig;
use kiln_core::entities::builders as rows;
use kiln_core::services::provision::{AllocateRequest, Provider};

/// A Pod per builder (the agent image's entrypoint is kiln-agent), on a node of the builder's
/// arch, with its one-time registration token in a Secret of its own.
pub(super) struct KubernetesProvider {
    pool: PoolConfig,
    client: tokio::sync::OnceCell<(kube::Client, String)>,
}

impl KubernetesProvider {
    pub(super) fn new(pool: &PoolConfig) -> anyhow::Result<KubernetesProvider> {
        anyhow::ensure!(pool.image.is_some(), "the kubernetes provider needs image");
        Ok(KubernetesProvider {
            pool: pool.clone(),
            client: tokio::sync::OnceCell::new(),
        })
    }

    /// The client and namespace, made on first use (in-cluster configuration, else the
    /// kubeconfig, unless `api_url` names an API server to use as is).
    async fn client(&self) -> anyhow::Result<&(kube::Client, String)> {
        self.client
            .get_or_try_init(|| async {
                // Several TLS providers are built in (aws-lc for S3, ring for others): kube
                // takes the process default, which must be chosen.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let mut config = match &self.pool.api_url {
                    Some(url) => kube::Config::new(url.parse().context("api_url")?),
                    None => kube::Config::infer()
                        .await
                        .context("no Kubernetes configuration (in-cluster or kubeconfig)")?,
                };
                if let Some(ns) = &self.pool.namespace {
                    config.default_namespace = ns.clone();
                }
                let ns = config.default_namespace.clone();
                Ok((kube::Client::try_from(config)?, ns))
            })
            .await
    }
}

/// Kubernetes object names: lower-case letters, digits and '-'.
fn dns_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// The node label value of an RPM arch.
fn node_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "i686" => "amd64",
        "aarch64" => "arm64",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

#[async_trait::async_trait]
impl Provider for KubernetesProvider {
    async fn allocate(&self, req: &AllocateRequest) -> anyhow::Result<String> {
        use k8s_openapi::api::core::v1::{
            Container, EnvVar, EnvVarSource, Pod, PodSpec, ResourceRequirements, Secret,
            SecretKeySelector, SecurityContext,
        };
        use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
        use kube::api::{ObjectMeta, PostParams};
        let (client, ns) = self.client().await?;
        let name = dns_name(&format!("kiln-builder-{}", req.name));
        let labels: std::collections::BTreeMap<String, String> = [
            ("app.kubernetes.io/name", "kiln-agent".to_owned()),
            ("kiln.dev/pool", dns_name(&req.pool)),
            ("kiln.dev/builder", dns_name(&req.name)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let meta = || ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        let secret = Secret {
            metadata: meta(),
            string_data: Some([("token".to_owned(), req.token.clone())].into()),
            ..Default::default()
        };
        kube::Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .context("creating the registration Secret")?;
        let mut requests = std::collections::BTreeMap::new();
        if let Some(cpu) = &self.pool.cpu {
            requests.insert("cpu".to_owned(), Quantity(cpu.clone()));
        }
        if let Some(memory) = &self.pool.memory {
            requests.insert("memory".to_owned(), Quantity(memory.clone()));
        }
        let pod = Pod {
            metadata: meta(),
            spec: Some(PodSpec {
                restart_policy: Some("Never".into()),
                node_selector: Some(
                    [(
                        "kubernetes.io/arch".to_owned(),
                        node_arch(&req.arch).to_owned(),
                    )]
                    .into(),
                ),
                // Running builds get the agent's grace time after SIGTERM, then go back to
                // the queue.
                termination_grace_period_seconds: Some(60),
                containers: vec![Container {
                    name: "agent".into(),
                    image: self.pool.image.clone(),
                    args: Some(vec![
                        "--server".into(),
                        req.server.clone(),
                        "--name".into(),
                        req.name.clone(),
                        "--arch".into(),
                        req.arch.clone(),
                        "--capacity".into(),
                        req.capacity.to_string(),
                    ]),
                    env: Some(vec![EnvVar {
                        name: "KILN_AGENT_REGISTRATION_TOKEN".into(),
                        value_from: Some(EnvVarSource {
                            secret_key_ref: Some(SecretKeySelector {
                                name: name.clone(),
                                key: "token".into(),
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    // mock needs its namespaces and bind mounts.
                    security_context: Some(SecurityContext {
                        privileged: Some(true),
                        ..Default::default()
                    }),
                    resources: (!requests.is_empty()).then(|| ResourceRequirements {
                        requests: Some(requests),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Err(e) = kube::Api::<Pod>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &pod)
            .await
        {
            let _ = kube::Api::<Secret>::namespaced(client.clone(), ns)
                .delete(&name, &Default::default())
                .await;
            return Err(e).context("creating the builder Pod");
        }
        Ok(name)
    }

    async fn release(&self, builder: &rows::Model) -> anyhow::Result<()> {
        use k8s_openapi::api::core::v1::{Pod, Secret};
        let (client, ns) = self.client().await?;
        let Some(name) = builder.provider_id.as_deref() else {
            return Ok(());
        };
        let gone = |r: Result<_, kube::Error>| match r {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        };
        gone(
            kube::Api::<Pod>::namespaced(client.clone(), ns)
                .delete(name, &Default::default())
                .await
                .map(|_| ()),
        )
        .context("deleting the builder Pod")?;
        gone(
            kube::Api::<Secret>::namespaced(client.clone(), ns)
                .delete(name, &Default::default())
                .await
                .map(|_| ()),
        )
        .context("deleting the registration Secret")?;
        Ok(())
    }
}
