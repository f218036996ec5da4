//! The command line: parsed by clap into [`Cli`], which checks what clap
//! cannot (the filter's language) before anything starts.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

use crate::model::filter::{Filter, Term};

/// Live view of what the Linux kernel does to TCP connections: connect
/// attempts and their SYN retries, retransmission timelines, and the
/// connections the kernel closed on timeout or reset, with their owners
/// and kernel stacks.
#[derive(Debug, Parser)]
#[command(name = "tcpscope", version, about, long_about = None)]
pub struct Cli {
    /// Print events as JSON lines on stdout instead of opening the screen.
    #[arg(long)]
    pub json: bool,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics instead of
    /// opening the screen (with --json, print JSON lines as well), e.g.
    /// 127.0.0.1:10420 or [::]:10420.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "snapshot")]
    pub metrics: Option<SocketAddr>,

    /// With --metrics: the worst N destinations get series of their own,
    /// the others are summed into one `other` series.
    #[arg(long, value_name = "N", default_value_t = crate::metrics::DESTINATIONS,
          requires = "metrics")]
    pub metrics_destinations: usize,

    /// Stop after this long, e.g. 30s or 5m (default: until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Only flows with this port at either end (repeatable: any of them).
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,

    /// Only flows owned by this process id (repeatable: any of them).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,

    /// Filter expression, e.g. 'port:443 comm:java' (all terms must match).
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,

    /// Play a recording made with `tcpscope --json` instead of watching the
    /// kernel (no root needed).
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,

    /// Replay speed: 2 plays twice as fast, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0, requires = "replay", value_parser = parse_speed)]
    pub speed: f64,

    /// Run without a terminal, then write the screen as text to FILE (at
    /// the end of --duration or of the recording, or at Ctrl-C).
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub snapshot: Option<PathBuf>,

    /// With --json: a `sockinfo` line (the socket's tcp_info, like
    /// `ss -ti`) per matching flow, every second.
    #[arg(long, requires = "json")]
    pub sockinfo: bool,

    /// Where the `s` key writes its snapshots.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub snapshot_dir: PathBuf,

    /// Shortest time between two redraws of new data, e.g. 100ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "250ms")]
    pub refresh: Duration,

    /// Read the kernel's structures from this BTF file instead of
    /// /sys/kernel/btf/vmlinux, for a kernel that does not expose its own
    /// (the probes then attach as raw tracepoints).
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub btf: Option<PathBuf>,

    /// Attach the probes as raw tracepoints even where BTF tracepoints
    /// work, as a kernel without BTF has them.
    #[arg(long, conflicts_with = "replay")]
    pub raw_tracepoints: bool,

    /// Have the probes send every state change of every connection. By
    /// default a connection that stays clean for its first second is only
    /// counted in the kernel (attempts and handshakes per destination), and
    /// told once it is in trouble or older; this costs the box more.
    #[arg(long, conflicts_with = "replay")]
    pub every_flow: bool,

    /// The most live flows the table holds; past it the flow idle longest
    /// is evicted (and counted in `flows_evicted`). Bounds tcpscope's
    /// memory under a flood.
    #[arg(long, value_name = "N", default_value_t = 200_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_flows: u32,

    /// Where container runtimes keep their state, for the Kubernetes pod
    /// of a container's flows: DIR/run/containerd and DIR/run/containers
    /// (a DaemonSet mounts the host's /run elsewhere).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        conflicts_with = "replay"
    )]
    pub runtime_root: PathBuf,

    /// Say more on stderr: the verifier's whole log of a probe it refused,
    /// and the newer kernel fields this kernel lacks.
    #[arg(long, short)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print when the kernel retransmits and gives up, for given limits
    /// (no root needed).
    Predict(crate::predict::PredictArgs),
}

impl Cli {
    /// The filter made of --port, --pid and --filter.
    pub fn filter(&self) -> anyhow::Result<Filter> {
        let mut filter = match &self.filter {
            Some(text) => text
                .parse::<Filter>()
                .map_err(|error| anyhow::anyhow!("--filter: {error}"))?,
            None => Filter::default(),
        };
        filter.require_any(self.port.iter().map(|&port| Term::Port(port)).collect());
        filter.require_any(self.pid.iter().map(|&pid| Term::Pid(pid)).collect());
        Ok(filter)
    }
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed >= 0.0 => Ok(speed),
        _ => Err(format!(
            "{text:?} is not a speed: use a number like 2 or 0.5, or 0 for as fast as possible"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("tcpscope").chain(args.iter().copied()))
            .expect("arguments parse")
    }

    #[test]
    fn ports_pids_and_the_expression_combine() {
        let cli = parse(&[
            "--json",
            "--port",
            "80",
            "--port",
            "443",
            "--pid",
            "7",
            "--filter",
            "comm:nginx",
        ]);
        assert_eq!(
            cli.filter().expect("filter").to_string(),
            "comm:nginx port:80,443 pid:7"
        );
    }

    #[test]
    fn a_bad_filter_names_the_option_and_the_term() {
        let error = parse(&["--filter", "port:x"])
            .filter()
            .expect_err("bad term");
        assert!(
            error.to_string().starts_with("--filter: \"port:x\""),
            "{error}"
        );
    }

    #[test]
    fn durations_use_humantime() {
        assert_eq!(
            parse(&["--duration", "1m30s"]).duration,
            Some(Duration::from_secs(90))
        );
        assert!(Cli::try_parse_from(["tcpscope", "--duration", "soon"]).is_err());
    }

    #[test]
    fn screen_options_are_checked() {
        let cli = parse(&[
            "--replay",
            "rec.jsonl",
            "--speed",
            "0",
            "--refresh",
            "100ms",
        ]);
        assert_eq!((cli.speed, cli.refresh), (0.0, Duration::from_millis(100)));
        assert_eq!(parse(&[]).refresh, Duration::from_millis(250));
        assert!(
            Cli::try_parse_from(["tcpscope", "--speed", "2"]).is_err(),
            "needs --replay"
        );
        assert!(Cli::try_parse_from(["tcpscope", "--replay", "r", "--speed", "-1"]).is_err());
        assert!(Cli::try_parse_from(["tcpscope", "--json", "--snapshot", "f"]).is_err());
    }
}
