//! The two text formats a scrape may ask for: OpenMetrics, which
//! `prometheus-client` writes and Prometheus asks for first, and the older
//! Prometheus text format (0.0.4) for everything else (`curl`, `promtool
//! check metrics`). The older one is the OpenMetrics text with each
//! counter's HELP and TYPE named as its samples are (`_total`), an info
//! metric typed as a gauge, and without the `# UNIT` and `# EOF` lines.

use prometheus_client::{encoding::text::encode, registry::Registry};

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which format an `Accept` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    PrometheusText,
}

impl Format {
    /// OpenMetrics when the scraper accepts it, else the older text.
    pub fn accepted(accept: Option<&str>) -> Self {
        match accept.is_some_and(|accept| accept.contains("application/openmetrics-text")) {
            true => Self::OpenMetrics,
            false => Self::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS,
            Self::PrometheusText => PROMETHEUS_TEXT,
        }
    }
}

/// The registry in `format`.
pub fn render(registry: &Registry, format: Format) -> String {
    let mut text = String::new();
    if let Err(error) = encode(&mut text, registry) {
        // Writing to a String does not fail; should it, the scrape says so.
        return format!("# tcpscope could not encode its metrics: {error}\n");
    }
    match format {
        Format::OpenMetrics => text,
        Format::PrometheusText => prometheus_text(&text),
    }
}

/// The OpenMetrics text `open` in the Prometheus text format.
pub fn prometheus_text(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    let mut lines = open.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let Some(help) = line.strip_prefix("# HELP ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        // A family: HELP, TYPE (UNIT), samples. Its TYPE says how the
        // older format names it.
        let name = help.split(' ').next().unwrap_or_default();
        let kind = lines
            .peek()
            .and_then(|next| next.strip_prefix("# TYPE "))
            .and_then(|typed| typed.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        let (renamed, kind) = match kind.as_str() {
            "counter" => (format!("{name}_total"), "counter"),
            "info" => (format!("{name}_info"), "gauge"),
            _ => (name.to_string(), kind.as_str()),
        };
        let rest = &help[name.len()..];
        out.push_str(&format!("# HELP {renamed}{rest}\n"));
        if !kind.is_empty() {
            lines.next();
            out.push_str(&format!("# TYPE {renamed} {kind}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: &str = "\
# HELP tcpscope_drops TCP segments dropped.
# TYPE tcpscope_drops counter
tcpscope_drops_total{reason=\"NETFILTER_DROP\"} 3
# HELP tcpscope_retransmission_timeout_seconds The RTO.
# TYPE tcpscope_retransmission_timeout_seconds histogram
# UNIT tcpscope_retransmission_timeout_seconds seconds
tcpscope_retransmission_timeout_seconds_sum 1.0
# HELP tcpscope_build tcpscope's version.
# TYPE tcpscope_build info
tcpscope_build_info{version=\"0.1.0\"} 1
# HELP tcpscope_flows Live flows.
# TYPE tcpscope_flows gauge
tcpscope_flows 2
# EOF
";

    #[test]
    fn counters_and_infos_are_named_as_their_samples_and_openmetrics_lines_go() {
        let text = prometheus_text(OPEN);
        assert_eq!(
            text,
            "\
# HELP tcpscope_drops_total TCP segments dropped.
# TYPE tcpscope_drops_total counter
tcpscope_drops_total{reason=\"NETFILTER_DROP\"} 3
# HELP tcpscope_retransmission_timeout_seconds The RTO.
# TYPE tcpscope_retransmission_timeout_seconds histogram
tcpscope_retransmission_timeout_seconds_sum 1.0
# HELP tcpscope_build_info tcpscope's version.
# TYPE tcpscope_build_info gauge
tcpscope_build_info{version=\"0.1.0\"} 1
# HELP tcpscope_flows Live flows.
# TYPE tcpscope_flows gauge
tcpscope_flows 2
"
        );
    }

    #[test]
    fn prometheus_asks_for_openmetrics_and_curl_gets_the_older_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::accepted(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::accepted(Some("*/*")), Format::PrometheusText);
        assert_eq!(Format::accepted(None), Format::PrometheusText);
    }
}
