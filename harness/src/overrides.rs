//! The per-cell compose override: what makes a stack parallel-safe and reachable from the
//! harness without editing the deployment's own files.
//!
//! - images from the image map;
//! - no fixed `container_name` (`!reset`), published ports on loopback (all interfaces for a
//!   remote engine, see `endpoint`) with ephemeral host ports (`!override`), plus the ports the
//!   harness needs (the broker);
//! - labels on every service, network and volume for teardown and the reaper.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::compose::ComposeModel;
use crate::images::ImageMap;
use crate::recipe::CellRecipe;

/// What the override asks of one stack.
#[derive(Clone, Debug, Default)]
pub struct OverrideSpec<'a> {
    /// The host IP ports are published on; loopback when `None`.
    pub publish_ip: Option<&'a str>,
    pub images: Option<&'a ImageMap>,
    pub labels: BTreeMap<String, String>,
    /// Extra container ports to publish on loopback, per service (e.g. the broker's 6379).
    pub extra_ports: BTreeMap<String, BTreeSet<u16>>,
    /// The cell's recipes: extra services, and env, networks and waits for the app services.
    pub recipe: Option<&'a CellRecipe>,
    /// The matrix's environment for single services (service -> key -> value).
    pub service_env: Option<&'a BTreeMap<String, BTreeMap<String, String>>>,
    /// Header comment naming the cell and run.
    pub header: String,
}

/// Which upstream image a service's local image replaced, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Substitution {
    pub service: String,
    pub upstream: String,
    pub local: String,
}

/// Renders the override YAML for `model`; returns it with the image substitutions made.
pub fn render(model: &ComposeModel, spec: &OverrideSpec<'_>) -> (String, Vec<Substitution>) {
    let mut y = String::new();
    let mut subs = Vec::new();
    for line in spec.header.lines() {
        let _ = writeln!(y, "# {line}");
    }
    y.push_str("services:\n");
    for (name, service) in &model.services {
        let _ = writeln!(y, "  {}:", q(name));
        if let (Some(map), Some(image)) = (spec.images, service.image.as_deref())
            && let Some(local) = map.local_for(image)
        {
            let _ = writeln!(y, "    image: {}", q(local));
            subs.push(Substitution {
                service: name.clone(),
                upstream: image.to_string(),
                local: local.to_string(),
            });
        }
        if service.container_name.is_some() {
            y.push_str("    container_name: !reset null\n");
        }
        let mut ports: BTreeSet<(u16, String)> = service
            .ports
            .iter()
            .map(|p| (p.target, p.protocol.clone().unwrap_or_else(|| "tcp".into())))
            .collect();
        if let Some(extra) = spec.extra_ports.get(name) {
            ports.extend(extra.iter().map(|p| (*p, "tcp".to_string())));
        }
        if !ports.is_empty() {
            y.push_str("    ports: !override\n");
            for (target, protocol) in &ports {
                let suffix = if protocol == "tcp" {
                    String::new()
                } else {
                    format!("/{protocol}")
                };
                let ip = spec.publish_ip.unwrap_or("127.0.0.1");
                let _ = writeln!(y, "      - {}", q(&format!("{ip}::{target}{suffix}")));
            }
        }
        let own_env = spec.service_env.and_then(|e| e.get(name));
        match spec.recipe {
            Some(recipe) if is_app_service(service) => {
                write_app_pieces(&mut y, service, recipe, own_env)
            }
            _ => write_environment(&mut y, std::iter::empty(), own_env),
        }
        write_labels(&mut y, "    ", &spec.labels);
    }
    if let Some(recipe) = spec.recipe {
        for (name, def) in &recipe.services {
            let mut def = def.clone();
            if let Some(obj) = def.as_object_mut() {
                if let Some(upstream) = obj.get("image").and_then(|i| i.as_str()).map(str::to_owned)
                    && let Some(local) = spec.images.and_then(|m| m.local_for(&upstream))
                {
                    obj.insert("image".into(), local.into());
                    subs.push(Substitution {
                        service: name.clone(),
                        upstream,
                        local: local.to_string(),
                    });
                }
                let labels = obj
                    .entry("labels")
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(l) = labels.as_object_mut() {
                    for (k, v) in &spec.labels {
                        l.insert(k.clone(), v.clone().into());
                    }
                }
            }
            // JSON is YAML: a recipe's service goes in as one flow mapping.
            let _ = writeln!(y, "  {}: {def}", q(name));
        }
    }
    let networks: Vec<&String> = model
        .networks
        .iter()
        .filter(|(_, n)| !n.as_ref().and_then(|n| n.external).unwrap_or(false))
        .map(|(name, _)| name)
        .collect();
    if !networks.is_empty() {
        y.push_str("networks:\n");
        for name in networks {
            let _ = writeln!(y, "  {}:", q(name));
            write_labels(&mut y, "    ", &spec.labels);
        }
    }
    let volumes: Vec<&String> = model
        .volumes
        .iter()
        .filter(|(_, v)| {
            !v.as_ref()
                .and_then(|v| v.get("external"))
                .and_then(|e| e.as_bool())
                .unwrap_or(false)
        })
        .map(|(name, _)| name)
        .collect();
    if !volumes.is_empty() {
        y.push_str("volumes:\n");
        for name in volumes {
            let _ = writeln!(y, "  {}:", q(name));
            write_labels(&mut y, "    ", &spec.labels);
        }
    }
    (y, subs)
}

/// Dify merges its shared environment into the services that run its code (api, worker,
/// worker_beat); those are the ones a recipe's env, networks and waits apply to.
fn is_app_service(service: &crate::compose::Service) -> bool {
    service.environment.contains_key("VECTOR_STORE")
        && service.environment.contains_key("STORAGE_TYPE")
}

/// The `environment:` block: the recipe's keys, then the matrix's for this service (which win).
fn write_environment<'a>(
    y: &mut String,
    recipe: impl Iterator<Item = (&'a String, &'a String)>,
    own: Option<&'a BTreeMap<String, String>>,
) {
    let mut env: BTreeMap<&String, &String> = recipe.collect();
    if let Some(own) = own {
        env.extend(own.iter());
    }
    if !env.is_empty() {
        y.push_str("    environment:\n");
        for (k, v) in env {
            let _ = writeln!(y, "      {}: {}", q(k), q(v));
        }
    }
}

fn write_app_pieces(
    y: &mut String,
    service: &crate::compose::Service,
    recipe: &CellRecipe,
    own_env: Option<&BTreeMap<String, String>>,
) {
    write_environment(y, recipe.service_env.iter(), own_env);
    if !recipe.networks.is_empty() {
        // Naming networks replaces the implicit `default`; keep what the service had.
        let mut networks: BTreeSet<&str> = service.networks.keys().map(String::as_str).collect();
        if networks.is_empty() {
            networks.insert("default");
        }
        networks.extend(recipe.networks.iter().map(String::as_str));
        y.push_str("    networks:\n");
        for n in networks {
            let _ = writeln!(y, "      {}: {{}}", q(n));
        }
    }
    if !recipe.wait_for.is_empty() {
        y.push_str("    depends_on:\n");
        for (name, condition) in &recipe.wait_for {
            let _ = writeln!(
                y,
                "      {}: {{\"condition\": {}, \"required\": true}}",
                q(name),
                q(condition)
            );
        }
    }
}

fn write_labels(y: &mut String, indent: &str, labels: &BTreeMap<String, String>) {
    if labels.is_empty() {
        return;
    }
    let _ = writeln!(y, "{indent}labels:");
    for (k, v) in labels {
        let _ = writeln!(y, "{indent}  {}: {}", q(k), q(v));
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn q(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::ComposeModel;

    #[test]
    fn renders_images_names_ports_and_labels() {
        let model = ComposeModel::parse_json(
            r#"{"services": {
                "milvus": {"image": "milvusdb/milvus:v2.6.3", "container_name": "milvus-standalone",
                           "ports": [{"target": 19530, "published": "19530"}]},
                "nginx": {"image": "nginx:latest", "ports": [{"target": 80, "published": "80"},
                                                            {"target": 443, "published": "443"}]},
                "redis": {"image": "redis:6-alpine"}
              },
              "networks": {"default": {"name": "p_default"}, "ext": {"external": true}},
              "volumes": {"oradata": {"name": "p_oradata"}}}"#,
        )
        .unwrap();
        let map = ImageMap::from_entries([(
            "nginx:latest".to_string(),
            "dify-conformance/nginx:local".to_string(),
        )]);
        let spec = OverrideSpec {
            publish_ip: None,
            service_env: None,
            images: Some(&map),
            labels: BTreeMap::from([("dev.dify-conformance.run".into(), "r1".into())]),
            extra_ports: BTreeMap::from([("redis".into(), BTreeSet::from([6379]))]),
            recipe: None,
            header: "cell pgvector.opendal".into(),
        };
        let (yaml, subs) = render(&model, &spec);
        insta::assert_snapshot!(yaml);
        assert_eq!(
            subs,
            [Substitution {
                service: "nginx".into(),
                upstream: "nginx:latest".into(),
                local: "dify-conformance/nginx:local".into()
            }]
        );
        // A remote engine publishes where the harness can reach it.
        let remote = OverrideSpec {
            publish_ip: Some("0.0.0.0"),
            ..spec
        };
        let (yaml, _) = render(&model, &remote);
        assert!(yaml.contains("- \"0.0.0.0::6379\""), "{yaml}");
        assert!(!yaml.contains("127.0.0.1::"), "{yaml}");
    }
}
