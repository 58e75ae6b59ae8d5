//! Command line: `activity-events-authz serve ...`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::authorizer::Settings;
use crate::cache::CacheConfig;

#[derive(Debug, Parser)]
#[command(
    name = "activity-events-authz",
    version,
    about = "Envoy ext_authz service: authenticates and authorizes Kubernetes Event requests by asking Milo"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve envoy.service.auth.v3.Authorization (gRPC) until SIGTERM or SIGINT.
    Serve(Serve),
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct Serve {
    /// gRPC listen address for Envoy's ext_authz filter (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Kubeconfig saying how to reach Milo and as whom (https with a CA and a client
    /// certificate or token; plain http for tests).
    #[arg(long, value_name = "FILE")]
    pub milo_kubeconfig: PathBuf,
    /// Context of the kubeconfig to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub milo_context: Option<String>,
    /// Upper bound of one review, connecting included; keep it below Envoy's ext_authz timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub milo_timeout: Duration,
    /// HTTP listen address for /healthz, /readyz and /metrics (none: not served).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Audience the tokens must be valid for (repeatable; none: Milo's own audiences).
    #[arg(long = "token-audience", value_name = "AUDIENCE")]
    pub token_audiences: Vec<String>,
    /// Most token reviews kept.
    #[arg(long, value_name = "N", default_value_t = CacheConfig::TOKEN_DEFAULT.capacity)]
    pub token_cache_size: u64,
    /// How long an authenticated token review is kept.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    pub token_cache_ttl: Duration,
    /// How long a failed authentication is kept.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub token_cache_unauthenticated_ttl: Duration,
    /// Most access reviews kept.
    #[arg(long, value_name = "N", default_value_t = CacheConfig::ACCESS_DEFAULT.capacity)]
    pub access_cache_size: u64,
    /// How long an allowed access review is kept.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub access_cache_authorized_ttl: Duration,
    /// How long a denied access review is kept.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub access_cache_unauthorized_ttl: Duration,
    /// Log format (the level comes from RUST_LOG, default info).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl Serve {
    pub fn settings(&self) -> Settings {
        Settings {
            audiences: self.token_audiences.clone(),
            token_cache: CacheConfig {
                capacity: self.token_cache_size,
                positive_ttl: self.token_cache_ttl,
                negative_ttl: self.token_cache_unauthenticated_ttl,
            },
            access_cache: CacheConfig {
                capacity: self.access_cache_size,
                positive_ttl: self.access_cache_authorized_ttl,
                negative_ttl: self.access_cache_unauthorized_ttl,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_are_kube_apiservers_webhook_cache_ttls() {
        let cli = Cli::parse_from([
            "activity-events-authz",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--milo-kubeconfig",
            "k",
        ]);
        let Command::Serve(s) = cli.command;
        assert_eq!(s.settings(), Settings::default());
        assert_eq!(s.milo_timeout, Duration::from_secs(5));
        assert_eq!(s.metrics_listen, None);
    }

    #[test]
    fn flags_set_sizes_ttls_and_audiences() {
        let cli = Cli::parse_from([
            "activity-events-authz",
            "serve",
            "--listen=127.0.0.1:9000",
            "--milo-kubeconfig=k",
            "--metrics-listen=127.0.0.1:9090",
            "--token-audience=milo",
            "--token-audience=other",
            "--token-cache-size=5",
            "--token-cache-ttl=1m",
            "--token-cache-unauthenticated-ttl=1s",
            "--access-cache-size=7",
            "--access-cache-authorized-ttl=90s",
            "--access-cache-unauthorized-ttl=500ms",
            "--milo-timeout=2s",
        ]);
        let Command::Serve(s) = cli.command;
        let settings = s.settings();
        assert_eq!(settings.audiences, ["milo", "other"]);
        assert_eq!(
            settings.token_cache,
            CacheConfig {
                capacity: 5,
                positive_ttl: Duration::from_secs(60),
                negative_ttl: Duration::from_secs(1)
            }
        );
        assert_eq!(
            settings.access_cache,
            CacheConfig {
                capacity: 7,
                positive_ttl: Duration::from_secs(90),
                negative_ttl: Duration::from_millis(500)
            }
        );
    }
}
