//! Where a stack's published ports are reached from here: on this machine's loopback for a local
//! engine, on the engine's host for a remote one (`DOCKER_HOST=tcp://…` or `ssh://…`).
//!
//! A remote engine publishes on its own interfaces, so the override binds ports on `0.0.0.0`
//! there (loopback on the engine host would be out of our reach) and the harness connects to the
//! host `DOCKER_HOST` names. `DIFY_CONFORMANCE_ENGINE_HOST` names another host for the same
//! ports (an engine behind NAT, or reached through a tunnel).

use crate::error::{Error, Result};

/// The variable naming the host that reaches a remote engine's published ports.
pub const ENGINE_HOST_VAR: &str = "DIFY_CONFORMANCE_ENGINE_HOST";

/// Where ports are published and from where they are reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The host IP the override publishes ports on.
    pub publish_ip: String,
    /// The host (name, IPv4, or bracketed IPv6) the harness connects to.
    pub host: String,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            publish_ip: "127.0.0.1".into(),
            host: "127.0.0.1".into(),
        }
    }
}

impl Endpoint {
    /// From this process's environment (`DOCKER_HOST`, [`ENGINE_HOST_VAR`]).
    pub fn from_env() -> Result<Self> {
        Self::parse(
            std::env::var("DOCKER_HOST").ok().as_deref(),
            std::env::var(ENGINE_HOST_VAR).ok().as_deref(),
        )
    }

    /// `docker_host` as Docker reads it; `engine_host` overrides the host it names.
    pub fn parse(docker_host: Option<&str>, engine_host: Option<&str>) -> Result<Self> {
        let bad = |key: &str, value: &str, expected: &str| {
            Error::BadInput(format!("{key}={value:?}: expected {expected}"))
        };
        let named = match docker_host.map(str::trim).filter(|h| !h.is_empty()) {
            None => None,
            Some(h) if h.starts_with("unix://") || h.starts_with("npipe://") => None,
            Some(h) => {
                let rest = ["tcp://", "http://", "https://", "ssh://"]
                    .iter()
                    .find_map(|scheme| h.strip_prefix(scheme))
                    .ok_or_else(|| {
                        bad(
                            "DOCKER_HOST",
                            h,
                            "unix://PATH, tcp://HOST:PORT, http(s)://HOST:PORT or ssh://[USER@]HOST[:PORT]",
                        )
                    })?;
                let authority = rest.split('/').next().unwrap_or_default();
                let host_port = authority.rsplit('@').next().unwrap_or_default();
                let host = if let Some(v6) = host_port.strip_prefix('[') {
                    v6.split(']').next().map(|a| format!("[{a}]"))
                } else {
                    host_port.split(':').next().map(str::to_owned)
                };
                match host.filter(|h| !h.is_empty() && h != "[]") {
                    Some(h) => Some(h),
                    None => {
                        return Err(bad("DOCKER_HOST", h, "a host after the scheme"));
                    }
                }
            }
        };
        let host = match engine_host.map(str::trim).filter(|h| !h.is_empty()) {
            Some(h) if h.contains('/') || h.contains(char::is_whitespace) => {
                return Err(bad(ENGINE_HOST_VAR, h, "a host name or IP address"));
            }
            Some(h) => Some(h.to_string()),
            None => named,
        };
        Ok(match host {
            None => Self::default(),
            Some(h) if is_loopback(&h) => Self {
                publish_ip: "127.0.0.1".into(),
                host: h,
            },
            Some(h) => Self {
                publish_ip: "0.0.0.0".into(),
                host: h,
            },
        })
    }

    /// `host:port` for a published port.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{port}", self.host)
    }

    /// Whether the engine is reached somewhere else than this machine's loopback.
    pub fn is_remote(&self) -> bool {
        !is_loopback(&self.host)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(h: Option<&str>, e: Option<&str>) -> Endpoint {
        Endpoint::parse(h, e).unwrap()
    }

    #[test]
    fn a_local_engine_is_reached_on_loopback() {
        assert_eq!(parse(None, None), Endpoint::default());
        assert_eq!(
            parse(Some("unix:///var/run/docker.sock"), None),
            Endpoint::default()
        );
        let local_tcp = parse(Some("tcp://127.0.0.1:2375"), None);
        assert_eq!(local_tcp.publish_ip, "127.0.0.1");
        assert!(!local_tcp.is_remote());
    }

    #[test]
    fn a_remote_engine_publishes_on_all_interfaces_and_is_reached_on_its_host() {
        let e = parse(Some("tcp://10.1.2.3:2375"), None);
        assert_eq!(e.publish_ip, "0.0.0.0");
        assert_eq!(e.addr(8080), "10.1.2.3:8080");
        assert!(e.is_remote());
        assert_eq!(
            parse(Some("ssh://ci@build-host.example:2222"), None).host,
            "build-host.example"
        );
        assert_eq!(
            parse(Some("tcp://[fd00::7]:2376"), None).addr(80),
            "[fd00::7]:80"
        );
        assert_eq!(
            parse(Some("tcp://10.1.2.3:2375"), Some("engine.example")).host,
            "engine.example"
        );
        // A tunnel to a remote engine whose ports are forwarded to this machine.
        assert_eq!(
            parse(Some("tcp://10.1.2.3:2375"), Some("127.0.0.1")).publish_ip,
            "127.0.0.1"
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_what_was_expected() {
        let e = Endpoint::parse(Some("10.1.2.3:2375"), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("DOCKER_HOST=\"10.1.2.3:2375\": expected unix://"),
            "{e}"
        );
        let e = Endpoint::parse(Some("tcp://"), None).unwrap_err();
        assert!(e.to_string().contains("a host after the scheme"), "{e}");
        let e = Endpoint::parse(None, Some("http://x/")).unwrap_err();
        assert!(e.to_string().contains(ENGINE_HOST_VAR), "{e}");
    }
}
