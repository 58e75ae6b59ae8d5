//! Prometheus metrics: checks and their decisions, reviews sent, cache hits and misses,
//! denials by reason, review errors and latency.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

const NS: &str = "activity_events_authz";

/// Review latency buckets: a cached answer is microseconds, a review a few milliseconds, a
/// slow Milo up to the review timeout.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `decision`: allowed, denied, not_event.
    pub checks: IntCounterVec,
    pub check_duration: Histogram,
    pub tokenreviews_sent: IntCounter,
    pub accessreviews_sent: IntCounter,
    /// `cache`: token, access.
    pub cache_hits: IntCounterVec,
    pub cache_misses: IntCounterVec,
    pub cache_entries: IntGaugeVec,
    /// `reason`: the Kubernetes reason of the reply (Unauthorized, Forbidden, BadRequest, ...).
    pub denials: IntCounterVec,
    /// `review`, `kind`: timeout, unreachable, status, invalid.
    pub review_errors: IntCounterVec,
    /// `review`: tokenreview, subjectaccessreview.
    pub review_duration: HistogramVec,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help).namespace(NS), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Fails only for a bad metric definition (they are constants, checked by the tests).
    pub fn new() -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let checks = counter(
            &registry,
            "checks_total",
            "ext_authz checks answered, by decision",
            &["decision"],
        )?;
        let check_duration = Histogram::with_opts(
            HistogramOpts::new("check_duration_seconds", "Time to answer a check")
                .namespace(NS)
                .buckets(BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(check_duration.clone()))?;
        let tokenreviews_sent = IntCounter::with_opts(
            Opts::new("tokenreviews_sent_total", "TokenReviews sent to Milo").namespace(NS),
        )?;
        registry.register(Box::new(tokenreviews_sent.clone()))?;
        let accessreviews_sent = IntCounter::with_opts(
            Opts::new(
                "accessreviews_sent_total",
                "SubjectAccessReviews sent to Milo",
            )
            .namespace(NS),
        )?;
        registry.register(Box::new(accessreviews_sent.clone()))?;
        let cache_hits = counter(
            &registry,
            "cache_hits_total",
            "Reviews answered from a cache (or by an identical review in flight)",
            &["cache"],
        )?;
        let cache_misses = counter(
            &registry,
            "cache_misses_total",
            "Reviews that had to be sent",
            &["cache"],
        )?;
        let cache_entries = IntGaugeVec::new(
            Opts::new("cache_entries", "Entries held by a cache").namespace(NS),
            &["cache"],
        )?;
        registry.register(Box::new(cache_entries.clone()))?;
        let denials = counter(
            &registry,
            "denials_total",
            "Requests refused, by Kubernetes reason",
            &["reason"],
        )?;
        let review_errors = counter(
            &registry,
            "review_errors_total",
            "Reviews without an answer, by review and kind",
            &["review", "kind"],
        )?;
        let review_duration = HistogramVec::new(
            HistogramOpts::new("review_duration_seconds", "Latency of reviews sent to Milo")
                .namespace(NS)
                .buckets(BUCKETS.to_vec()),
            &["review"],
        )?;
        registry.register(Box::new(review_duration.clone()))?;
        Ok(Metrics {
            registry,
            checks,
            check_duration,
            tokenreviews_sent,
            accessreviews_sent,
            cache_hits,
            cache_misses,
            cache_entries,
            denials,
            review_errors,
            review_duration,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_as_prometheus_text() {
        let m = Metrics::new().unwrap();
        m.checks.with_label_values(&["allowed"]).inc();
        m.tokenreviews_sent.inc();
        m.review_duration
            .with_label_values(&["tokenreview"])
            .observe(0.003);
        let text = m.render();
        assert!(
            text.contains("activity_events_authz_checks_total{decision=\"allowed\"} 1"),
            "{text}"
        );
        assert!(text.contains("activity_events_authz_tokenreviews_sent_total 1"));
        assert!(text.contains(
            "activity_events_authz_review_duration_seconds_bucket{review=\"tokenreview\",le=\"0.005\"} 1"
        ));
    }
}
