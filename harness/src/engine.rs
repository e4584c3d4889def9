//! The Docker engine, through bollard: container states, published ports, logs, and removal by
//! label. Compose itself is driven through testcontainers (see `stack`).

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder,
};
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::labels;

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

/// What the engine says about one container of a stack.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerState {
    pub id: String,
    pub service: String,
    /// `created`, `running`, `restarting`, `exited`, `dead`...
    pub state: String,
    pub exit_code: Option<i64>,
    /// `starting`, `healthy`, `unhealthy`, or `None` without a healthcheck.
    pub health: Option<String>,
    /// What the last healthcheck probe printed (its last line), when it failed.
    pub health_output: Option<String>,
    pub restart_count: i64,
    /// container port (e.g. `80/tcp`) -> host port on 127.0.0.1
    pub ports: BTreeMap<String, u16>,
    pub image: String,
}

/// A short-lived container: what to run, where, and how to find it again if we die.
#[derive(Clone, Debug)]
pub struct OneShot {
    pub name_prefix: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// The first is the container's network mode, the others are connected before it starts.
    pub networks: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    /// What could not be removed, and the engine's reason (one line each).
    pub failures: Vec<String>,
}

impl Swept {
    pub fn add(&mut self, other: Swept) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
        self.failures.extend(other.failures);
    }
}

impl Engine {
    /// Connects and pings; an engine that does not answer is an infrastructure error.
    pub async fn connect() -> Result<Self> {
        let unavailable = |e: bollard::errors::Error| Error::EngineUnavailable {
            reason: e.to_string(),
        };
        // DOCKER_HOST as the docker CLI reads it: unix, tcp or ssh.
        let docker = Docker::connect_with_defaults().map_err(unavailable)?;
        // Older engines (20.10 speaks API 1.41) refuse requests at bollard's default version.
        let docker = docker.negotiate_version().await.map_err(unavailable)?;
        docker.ping().await.map_err(unavailable)?;
        Ok(Self { docker })
    }

    /// Whether the engine still answers (it may have been restarted under a run).
    pub async fn ping(&self) -> Result<()> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(|e| Error::EngineUnavailable {
                reason: e.to_string(),
            })
    }

    pub async fn version(&self) -> String {
        self.docker
            .version()
            .await
            .ok()
            .and_then(|v| v.version)
            .unwrap_or_else(|| "unknown".into())
    }

    pub async fn image_exists(&self, name: &str) -> bool {
        self.docker.inspect_image(name).await.is_ok()
    }

    /// The containers carrying `label=value` (stopped ones too), with their state.
    pub async fn containers(&self, label: &str, value: &str) -> Result<Vec<ContainerState>> {
        let found = self.labelled(&format!("{label}={value}")).await?;
        let mut out = Vec::new();
        for (id, _) in found.containers {
            let Ok(inspect) = self
                .docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
            else {
                continue; // removed between list and inspect
            };
            let state = inspect.state.unwrap_or_default();
            let service = inspect
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::COMPOSE_SERVICE))
                .cloned()
                .unwrap_or_default();
            let mut ports = BTreeMap::new();
            if let Some(map) = inspect.network_settings.and_then(|n| n.ports) {
                for (container_port, bindings) in map {
                    let host = bindings
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|b| b.host_ip.as_deref() != Some("::"))
                        .find_map(|b| b.host_port.and_then(|p| p.parse().ok()));
                    if let Some(host) = host {
                        ports.insert(container_port, host);
                    }
                }
            }
            out.push(ContainerState {
                id,
                service,
                state: state
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                exit_code: state.exit_code,
                health_output: state
                    .health
                    .as_ref()
                    .and_then(|h| h.log.as_ref())
                    .and_then(|log| log.last())
                    .filter(|probe| probe.exit_code.unwrap_or(0) != 0)
                    .and_then(|probe| probe.output.as_deref())
                    .and_then(|o| o.lines().rev().find(|l| !l.trim().is_empty()))
                    .map(|l| l.trim().to_string()),
                health: state
                    .health
                    .and_then(|h| h.status)
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty() && s != "none"),
                restart_count: inspect.restart_count.unwrap_or(0),
                ports,
                image: inspect.config.and_then(|c| c.image).unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(out)
    }

    /// Runs `argv` in a running container; its exit code and output (stdout and stderr).
    pub async fn exec(&self, container: &str, argv: &[&str]) -> Result<(i64, String)> {
        use bollard::exec::{StartExecOptions, StartExecResults};
        let engine_err = |e: bollard::errors::Error| Error::EngineUnavailable {
            reason: e.to_string(),
        };
        let exec = self
            .docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(argv.iter().map(|a| a.to_string()).collect()),
                    ..Default::default()
                },
            )
            .await
            .map_err(engine_err)?;
        let mut text = String::new();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(engine_err)?
        {
            while let Some(Ok(chunk)) = output.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        let code = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(engine_err)?
            .exit_code
            .unwrap_or(-1);
        Ok((code, text))
    }

    /// A container's image, environment (`KEY=value`) and the networks it is attached to.
    pub async fn container_setup(&self, id: &str) -> Result<(String, Vec<String>, Vec<String>)> {
        let inspect = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::EngineUnavailable {
                reason: e.to_string(),
            })?;
        let config = inspect.config.unwrap_or_default();
        let networks = inspect
            .network_settings
            .and_then(|n| n.networks)
            .map(|n| n.into_keys().collect())
            .unwrap_or_default();
        Ok((
            config.image.unwrap_or_default(),
            config.env.unwrap_or_default(),
            networks,
        ))
    }

    /// Runs a short-lived labelled container to completion and removes it: its exit code and
    /// output. `cmd` replaces the image's entrypoint. It is killed at `timeout`.
    pub async fn run_to_completion(
        &self,
        spec: &OneShot,
        timeout: std::time::Duration,
    ) -> Result<(i64, String)> {
        use bollard::query_parameters::{CreateContainerOptionsBuilder, WaitContainerOptions};
        let engine_err = |e: bollard::errors::Error| Error::EngineUnavailable {
            reason: e.to_string(),
        };
        let name = format!("{}-{}", spec.name_prefix, uuid::Uuid::new_v4().simple());
        let body = bollard::models::ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(spec.cmd.clone()),
            cmd: Some(Vec::new()),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            host_config: Some(bollard::models::HostConfig {
                network_mode: spec.networks.first().cloned(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .map_err(engine_err)?;
        let result = async {
            for network in spec.networks.iter().skip(1) {
                self.docker
                    .connect_network(
                        network,
                        bollard::models::NetworkConnectRequest {
                            container: created.id.clone(),
                            endpoint_config: None,
                        },
                    )
                    .await
                    .map_err(engine_err)?;
            }
            self.docker
                .start_container(&created.id, None)
                .await
                .map_err(engine_err)?;
            let mut wait = self
                .docker
                .wait_container(&created.id, None::<WaitContainerOptions>);
            let code = match tokio::time::timeout(timeout, wait.next()).await {
                Ok(Some(Ok(r))) => r.status_code,
                // A non-zero exit arrives as an error carrying the code.
                Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError {
                    code, ..
                }))) => code,
                Ok(Some(Err(e))) => return Err(engine_err(e)),
                Ok(None) => -1,
                Err(_) => -2,
            };
            Ok(code)
        }
        .await;
        let output = self.logs(&created.id, 200).await.join("\n");
        // Disconnect before removing: Docker 20.10 was seen to keep a stale endpoint of a
        // container force-removed while attached, and then refuse to remove the project's
        // network ("has active endpoints") with no container on it.
        // A probe past its time-out still runs; one that ended makes this a no-op.
        let _ = self
            .docker
            .kill_container(
                &created.id,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await;
        for network in &spec.networks {
            let _ = self
                .docker
                .disconnect_network(
                    network,
                    bollard::models::NetworkDisconnectRequest {
                        container: created.id.clone(),
                        force: Some(true),
                    },
                )
                .await;
        }
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await;
        result.map(|code| (code, output))
    }

    /// A container's stdout and stderr, interleaved as the engine keeps them, from its last
    /// `tail` lines (`all` for everything).
    fn log_stream(
        &self,
        id: &str,
        tail: &str,
    ) -> impl futures_util::Stream<
        Item = std::result::Result<bollard::container::LogOutput, bollard::errors::Error>,
    > + use<> {
        self.docker.logs(
            id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .tail(tail)
                    .build(),
            ),
        )
    }

    /// Everything a container wrote (stdout and stderr, interleaved as the engine keeps them),
    /// at most the last `cap` bytes; the second value says whether the start was cut.
    pub async fn full_logs(&self, id: &str, cap: usize) -> (String, bool) {
        let mut stream = self.log_stream(id, "all");
        let mut bytes: Vec<u8> = Vec::new();
        let mut cut = false;
        while let Some(Ok(chunk)) = stream.next().await {
            bytes.extend_from_slice(&chunk.into_bytes());
            if bytes.len() > cap.saturating_mul(2) {
                bytes.drain(..bytes.len() - cap);
                cut = true;
            }
        }
        if bytes.len() > cap {
            bytes.drain(..bytes.len() - cap);
            cut = true;
        }
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if cut {
            // Start at a whole line.
            if let Some(nl) = text.find('\n') {
                text.drain(..=nl);
            }
        }
        (text, cut)
    }

    /// The last `tail` lines a container wrote (stdout and stderr).
    pub async fn logs(&self, id: &str, tail: usize) -> Vec<String> {
        let mut stream = self.log_stream(id, &tail.to_string());
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text.lines().map(str::to_owned).collect()
    }

    /// Runs `entrypoint` in a throwaway container of `image` (no network, `labels` on it so the
    /// reaper finds it if we are killed) and returns its exit code and output (stdout then
    /// stderr). The container is removed afterwards, also when `timeout` ran out.
    pub async fn run_once(
        &self,
        image: &str,
        entrypoint: &[&str],
        labels: &BTreeMap<String, String>,
        timeout: std::time::Duration,
    ) -> std::result::Result<(i64, String), String> {
        use bollard::models::{ContainerCreateBody, HostConfig};
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(entrypoint.iter().map(|s| (*s).to_string()).collect()),
            cmd: Some(Vec::new()),
            labels: Some(labels.clone().into_iter().collect()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(None, body)
            .await
            .map_err(|e| format!("cannot create a container of {image}: {e}"))?
            .id;
        let result = async {
            self.docker
                .start_container(&id, None)
                .await
                .map_err(|e| format!("cannot start a container of {image}: {e}"))?;
            let waited = tokio::time::timeout(timeout, async {
                let mut wait = self.docker.wait_container(&id, None);
                match wait.next().await {
                    Some(Ok(r)) => Ok(r.status_code),
                    // bollard reports a non-zero exit as an error carrying the code.
                    Some(Err(bollard::errors::Error::DockerContainerWaitError {
                        code, ..
                    })) => Ok(code),
                    Some(Err(e)) => Err(format!("waiting for a container of {image}: {e}")),
                    None => Err(format!("the engine did not report how {image} ended")),
                }
            })
            .await
            .map_err(|_| format!("a container of {image} did not end within {timeout:?}"))??;
            let mut stream = self.docker.logs(
                &id,
                Some(
                    LogsOptionsBuilder::default()
                        .stdout(true)
                        .stderr(true)
                        .build(),
                ),
            );
            let mut text = String::new();
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
            Ok((waited, text))
        }
        .await;
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = self.docker.remove_container(&id, Some(opts)).await;
        result
    }

    /// Every container (stopped ones too), network and volume carrying `selector`
    /// (`label` or `label=value`), with their labels.
    async fn labelled(&self, selector: &str) -> Result<Labelled> {
        let filters = HashMap::from([("label".to_string(), vec![selector.to_string()])]);
        let engine_err = |e: bollard::errors::Error| Error::EngineUnavailable {
            reason: e.to_string(),
        };
        let containers = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(engine_err)?
            .into_iter()
            .filter_map(|c| Some((c.id?, c.labels.unwrap_or_default())))
            .collect();
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(engine_err)?
            .into_iter()
            .filter_map(|n| Some((n.id?, n.labels.unwrap_or_default())))
            .collect();
        let volumes = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(engine_err)?
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.name, v.labels))
            .collect();
        Ok(Labelled {
            containers,
            networks,
            volumes,
        })
    }

    /// Removes every container, network and volume carrying `label=value`.
    pub async fn sweep(&self, label: &str, value: &str) -> Swept {
        let mut swept = Swept::default();
        let found = match self.labelled(&format!("{label}={value}")).await {
            Ok(found) => found,
            Err(e) => {
                swept.failures.push(format!(
                    "what carries {label}={value}: cannot list it ({e})"
                ));
                return swept;
            }
        };
        let short = |id: &str| id.chars().take(12).collect::<String>();
        for (id, _) in &found.containers {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            match self.docker.remove_container(id, Some(opts)).await {
                Ok(()) => swept.containers += 1,
                // Gone already: a request the engine took before we asked (a run's own
                // teardown whose client vanished) finished it.
                Err(e) if status(&e) == Some(404) => swept.containers += 1,
                // The engine is removing it for someone else: wait for that to finish.
                Err(e) if status(&e) == Some(409) && reason(&e).contains("in progress") => {
                    match self.removed(id).await {
                        Ok(()) => swept.containers += 1,
                        Err(why) => swept.failures.push(format!(
                            "container {}: {}; {why}",
                            short(id),
                            reason(&e)
                        )),
                    }
                }
                Err(e) => swept
                    .failures
                    .push(format!("container {}: {}", short(id), reason(&e))),
            }
        }
        for (id, labels) in &found.networks {
            match self.docker.remove_network(id).await {
                Ok(()) => swept.networks += 1,
                Err(e) if status(&e) == Some(404) => swept.networks += 1,
                Err(e) => {
                    // Name the network as `docker network ls` does, and what is still on it.
                    let name = self
                        .docker
                        .inspect_network(
                            id,
                            None::<bollard::query_parameters::InspectNetworkOptions>,
                        )
                        .await
                        .ok();
                    let attached: Vec<String> = name
                        .as_ref()
                        .and_then(|n| n.containers.as_ref())
                        .map(|c| c.values().filter_map(|c| c.name.clone()).collect())
                        .unwrap_or_default();
                    let name = name
                        .and_then(|n| n.name)
                        .or_else(|| labels.get("com.docker.compose.network").cloned())
                        .unwrap_or_else(|| short(id));
                    let on_it = if attached.is_empty() {
                        "no container attached".to_string()
                    } else {
                        format!("attached: {}", attached.join(", "))
                    };
                    swept.failures.push(format!(
                        "network {name}: {} ({on_it}; `docker network inspect {name}`)",
                        reason(&e)
                    ));
                }
            }
        }
        for (name, _) in &found.volumes {
            let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
            match self.docker.remove_volume(name, Some(opts)).await {
                Ok(()) => swept.volumes += 1,
                Err(e) if status(&e) == Some(404) => swept.volumes += 1,
                Err(e) => swept
                    .failures
                    .push(format!("volume {name}: {}", reason(&e))),
            }
        }
        swept
    }

    /// The runs that own anything labelled `labels::MANAGED`, with their owner label.
    pub async fn managed_runs(&self) -> Result<BTreeMap<String, Option<String>>> {
        let found = self.labelled(&format!("{}=true", labels::MANAGED)).await?;
        let mut runs: BTreeMap<String, Option<String>> = BTreeMap::new();
        let all = found
            .containers
            .iter()
            .chain(&found.networks)
            .chain(&found.volumes);
        for (_, l) in all {
            if let Some(run) = l.get(labels::RUN) {
                runs.entry(run.clone())
                    .or_insert_with(|| l.get(labels::OWNER).cloned());
            }
        }
        Ok(runs)
    }
}

/// The HTTP status of an engine error, if the engine answered at all.
fn status(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// How long a removal someone else started may take before the sweep gives up on it.
const REMOVAL_IN_PROGRESS_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The engine's own message for a failed call, without bollard's wrapping.
fn reason(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl Engine {
    /// Returns once the engine has removed `id` (its `wait?condition=removed`), or says why not.
    async fn removed(&self, id: &str) -> std::result::Result<(), String> {
        use bollard::query_parameters::WaitContainerOptionsBuilder;
        let options = WaitContainerOptionsBuilder::default()
            .condition("removed")
            .build();
        let mut wait = self.docker.wait_container(id, Some(options));
        match tokio::time::timeout(REMOVAL_IN_PROGRESS_LIMIT, wait.next()).await {
            Err(_) => Err(format!(
                "still being removed after {} s",
                REMOVAL_IN_PROGRESS_LIMIT.as_secs()
            )),
            // A 404 here means it went before the wait began; a non-zero exit code is the
            // container's own and does not matter once it is gone.
            Ok(None) | Ok(Some(Ok(_))) => Ok(()),
            Ok(Some(Err(e))) if status(&e) == Some(404) => Ok(()),
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => Ok(()),
            Ok(Some(Err(e))) => Err(reason(&e)),
        }
    }

    /// The exit code of the last time `container` died, from the engine's event log (the
    /// container's own state says 0 once a restart policy has it running again).
    pub async fn last_exit_code(&self, container: &str) -> Option<i64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let options = bollard::query_parameters::EventsOptions {
            // The engine keeps its recent events; a cell's crash loop is well inside an hour.
            since: Some(now.as_secs().saturating_sub(3600).to_string()),
            // To the nanosecond: whole seconds would leave out a death in the current second
            // (the usual case, the engine being watched every half second).
            until: Some(format!("{}.{:09}", now.as_secs(), now.subsec_nanos())),
            filters: Some(HashMap::from([
                ("container".to_string(), vec![container.to_string()]),
                ("event".to_string(), vec!["die".to_string()]),
            ])),
        };
        let mut events = self.docker.events(Some(options));
        let mut last = None;
        while let Some(Ok(e)) = futures_util::StreamExt::next(&mut events).await {
            if let Some(code) = e
                .actor
                .and_then(|a| a.attributes)
                .and_then(|a| a.get("exitCode").and_then(|c| c.parse::<i64>().ok()))
            {
                last = Some(code);
            }
        }
        last
    }

    /// How many containers, networks and volumes carry `label=value` (what a sweep removes).
    pub async fn count(&self, label: &str, value: &str) -> Result<Swept> {
        let found = self.labelled(&format!("{label}={value}")).await?;
        Ok(Swept {
            containers: found.containers.len(),
            networks: found.networks.len(),
            volumes: found.volumes.len(),
            ..Swept::default()
        })
    }

    /// The engine host's total memory in bytes and the directory it keeps images and volumes
    /// in, as the engine reports them.
    pub async fn host(&self) -> (Option<u64>, Option<String>) {
        match self.docker.info().await {
            Ok(info) => (
                info.mem_total.and_then(|m| u64::try_from(m).ok()),
                info.docker_root_dir,
            ),
            Err(_) => (None, None),
        }
    }
}

/// What carries a label: (id or name, labels) of each kind of object.
struct Labelled {
    containers: Vec<(String, HashMap<String, String>)>,
    networks: Vec<(String, HashMap<String, String>)>,
    volumes: Vec<(String, HashMap<String, String>)>,
}
