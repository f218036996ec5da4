//! The command line: parsed by clap, then checked into one [`Options`]
//! value so that the rest of the program never sees an invalid setting.

use std::time::Duration;

use clap::Parser;

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
}
