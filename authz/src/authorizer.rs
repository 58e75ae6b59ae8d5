//! The decision for one request: classify it as the filter will, authenticate its bearer token
//! with a TokenReview, add the URL's parent context as Milo does, and authorize it with a
//! SubjectAccessReview; both reviews through their caches.

use std::time::Instant;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec;

use crate::attributes::EventAttributes;
use crate::cache::{self, CacheConfig, ReviewCache, Source};
use crate::filter::{self, Classified};
use crate::identity::{bearer_token, with_parent};
use crate::metrics::Metrics;
use crate::milo::{AccessOutcome, MiloError, Reviewer, TokenOutcome};
use crate::status::{self, Reply};

/// How the authorizer reviews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Audiences the token must be valid for (none: Milo's own).
    pub audiences: Vec<String>,
    pub token_cache: CacheConfig,
    pub access_cache: CacheConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            audiences: Vec::new(),
            token_cache: CacheConfig::TOKEN_DEFAULT,
            access_cache: CacheConfig::ACCESS_DEFAULT,
        }
    }
}

/// A request as ext_authz describes it.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    pub method: &'a str,
    /// `:path` with the query string.
    pub path: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not an Event request: Milo authenticates and authorizes it itself.
    Pass,
    /// An allowed Event request, with the identity the filter is to act on.
    Allow(UserInfo),
    Deny(Reply),
}

impl Decision {
    fn label(&self) -> &'static str {
        match self {
            Decision::Pass => "not_event",
            Decision::Allow(_) => "allowed",
            Decision::Deny(_) => "denied",
        }
    }
}

#[derive(Clone, Copy)]
enum Review {
    Token,
    Access,
}

impl Review {
    fn name(self) -> &'static str {
        match self {
            Review::Token => "tokenreview",
            Review::Access => "subjectaccessreview",
        }
    }

    fn cache(self) -> &'static str {
        match self {
            Review::Token => "token",
            Review::Access => "access",
        }
    }
}

pub struct Authorizer<R> {
    reviewer: R,
    audiences: Vec<String>,
    tokens: ReviewCache<TokenOutcome>,
    access: ReviewCache<AccessOutcome>,
    metrics: Metrics,
}

impl<R: Reviewer> Authorizer<R> {
    pub fn new(reviewer: R, settings: Settings, metrics: Metrics) -> Self {
        Authorizer {
            reviewer,
            audiences: settings.audiences,
            tokens: ReviewCache::new(settings.token_cache),
            access: ReviewCache::new(settings.access_cache),
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics text, with the cache sizes of this moment.
    pub async fn render_metrics(&self) -> String {
        let entries = |cache, n: u64| {
            self.metrics
                .cache_entries
                .with_label_values(&[cache])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        entries("token", self.tokens.entry_count().await);
        entries("access", self.access.entry_count().await);
        self.metrics.render()
    }

    pub async fn check(&self, input: CheckInput<'_>) -> Decision {
        let started = Instant::now();
        let decision = self.decide(input).await;
        self.metrics
            .check_duration
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .checks
            .with_label_values(&[decision.label()])
            .inc();
        if let Decision::Deny(reply) = &decision {
            self.metrics
                .denials
                .with_label_values(&[reply.reason])
                .inc();
        }
        decision
    }

    async fn decide(&self, input: CheckInput<'_>) -> Decision {
        let attrs = match filter::classify(input.method, input.path) {
            Classified::NotEvent => return Decision::Pass,
            Classified::Refused { code, reason, body } => {
                tracing::debug!(
                    method = input.method,
                    path = input.path,
                    code,
                    "refused event path"
                );
                return Decision::Deny(status::refused(code, reason, body));
            }
            Classified::Event(attrs) => attrs,
        };
        let Some(token) = input.authorization.and_then(bearer_token) else {
            tracing::info!(method = input.method, path = input.path, "no bearer token");
            return Decision::Deny(status::unauthorized());
        };
        let user = match self.authenticate(token).await {
            Ok(TokenOutcome::Authenticated(user)) => user,
            Ok(TokenOutcome::Unauthenticated) => {
                tracing::info!(
                    method = input.method,
                    path = input.path,
                    "token not authenticated"
                );
                return Decision::Deny(status::unauthorized());
            }
            Err(e) => return Decision::Deny(failure(Review::Token, &e, input)),
        };
        let user = with_parent(user, attrs.parent.as_ref());
        let spec = access_review_spec(&user, &attrs);
        match self.authorize(&spec).await {
            Ok(AccessOutcome::Allowed) => {
                tracing::debug!(
                    user = user.username.as_deref().unwrap_or_default(),
                    verb = attrs.verb.as_str(),
                    path = input.path,
                    "allowed"
                );
                Decision::Allow(user)
            }
            Ok(AccessOutcome::Denied { reason }) => {
                let username = user.username.as_deref().unwrap_or_default();
                tracing::info!(
                    user = username,
                    verb = attrs.verb.as_str(),
                    group = attrs.group.as_str(),
                    namespace = attrs.namespace.as_deref().unwrap_or_default(),
                    name = attrs.name.as_deref().unwrap_or_default(),
                    parent = attrs
                        .parent
                        .as_ref()
                        .map(|p| p.name.as_str())
                        .unwrap_or_default(),
                    reason,
                    "forbidden"
                );
                Decision::Deny(status::forbidden(&attrs, username, &reason))
            }
            Err(e) => Decision::Deny(failure(Review::Access, &e, input)),
        }
    }

    async fn authenticate(&self, token: &str) -> Result<TokenOutcome, MiloError> {
        let key = cache::token_key(token, &self.audiences);
        let review = self.timed(
            Review::Token,
            self.reviewer.review_token(token, &self.audiences),
        );
        let (outcome, source) = self.tokens.get_or_review(key, review).await?;
        self.count(Review::Token, source);
        Ok((*outcome).clone())
    }

    async fn authorize(&self, spec: &SubjectAccessReviewSpec) -> Result<AccessOutcome, MiloError> {
        let key = cache::access_key(spec)
            .map_err(|e| MiloError::Invalid(format!("cannot encode the access review: {e}")))?;
        let review = self.timed(Review::Access, self.reviewer.review_access(spec));
        let (outcome, source) = self.access.get_or_review(key, review).await?;
        self.count(Review::Access, source);
        Ok((*outcome).clone())
    }

    /// Count and time a review that is actually sent (the cache runs this only on a miss).
    async fn timed<T>(
        &self,
        review: Review,
        call: impl std::future::Future<Output = Result<T, MiloError>>,
    ) -> Result<T, MiloError> {
        match review {
            Review::Token => self.metrics.tokenreviews_sent.inc(),
            Review::Access => self.metrics.accessreviews_sent.inc(),
        }
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .review_duration
            .with_label_values(&[review.name()])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.metrics
                .review_errors
                .with_label_values(&[review.name(), e.kind()])
                .inc();
        }
        result
    }

    fn count(&self, review: Review, source: Source) {
        let counter = match source {
            Source::Review => &self.metrics.cache_misses,
            Source::Cache => &self.metrics.cache_hits,
        };
        counter.with_label_values(&[review.cache()]).inc();
    }
}

/// The SubjectAccessReview kube-apiserver's webhook authorizer would send for this request:
/// the user (with the URL's parent context) and the resource attributes.
pub fn access_review_spec(user: &UserInfo, attrs: &EventAttributes) -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        user: user.username.clone(),
        uid: user.uid.clone().filter(|u| !u.is_empty()),
        groups: user.groups.clone(),
        extra: user.extra.clone(),
        resource_attributes: Some(attrs.resource_attributes()),
        non_resource_attributes: None,
    }
}

/// A review without an answer: fail closed with a Status. Transient failures are 503 (the
/// client may retry: nothing was forwarded); anything else is 500.
fn failure(review: Review, e: &MiloError, input: CheckInput<'_>) -> Reply {
    tracing::warn!(
        review = review.name(),
        error = %e,
        method = input.method,
        path = input.path,
        "review failed; request refused"
    );
    let what = match review {
        Review::Token => "authenticated",
        Review::Access => "authorized",
    };
    if e.is_unavailable() {
        status::unavailable(&format!(
            "the request could not be {what}: Milo is unavailable ({})",
            e.kind()
        ))
    } else {
        status::internal(&format!(
            "the request could not be {what}: Milo's {} failed ({})",
            review.name(),
            e.kind()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use crate::filter::{PARENT_API_GROUP_EXTRA, PARENT_NAME_EXTRA, PARENT_TYPE_EXTRA};

    /// A table-driven reviewer that records what it was asked.
    #[derive(Default)]
    struct Fake {
        users: HashMap<String, UserInfo>,
        /// (user, verb, namespace, parent-name extra or "") allowed.
        allow: Vec<(String, String, String, String)>,
        fail: Option<MiloError>,
        token_calls: AtomicUsize,
        access_specs: Mutex<Vec<SubjectAccessReviewSpec>>,
    }

    impl Reviewer for Fake {
        async fn review_token(
            &self,
            token: &str,
            _audiences: &[String],
        ) -> Result<TokenOutcome, MiloError> {
            self.token_calls.fetch_add(1, Ordering::SeqCst);
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            Ok(match self.users.get(token) {
                Some(u) => TokenOutcome::Authenticated(u.clone()),
                None => TokenOutcome::Unauthenticated,
            })
        }

        async fn review_access(
            &self,
            spec: &SubjectAccessReviewSpec,
        ) -> Result<AccessOutcome, MiloError> {
            self.access_specs.lock().unwrap().push(spec.clone());
            let ra = spec.resource_attributes.clone().unwrap_or_default();
            let parent = spec
                .extra
                .as_ref()
                .and_then(|e| e.get(PARENT_NAME_EXTRA))
                .and_then(|v| v.first().cloned())
                .unwrap_or_default();
            let want = (
                spec.user.clone().unwrap_or_default(),
                ra.verb.unwrap_or_default(),
                ra.namespace.unwrap_or_default(),
                parent,
            );
            Ok(if self.allow.contains(&want) {
                AccessOutcome::Allowed
            } else {
                AccessOutcome::Denied {
                    reason: String::new(),
                }
            })
        }
    }

    impl Fake {
        fn access_calls(&self) -> usize {
            self.access_specs.lock().unwrap().len()
        }
    }

    fn bob() -> UserInfo {
        UserInfo {
            username: Some("bob".into()),
            uid: Some("bob-uid".into()),
            groups: Some(vec!["system:authenticated".into()]),
            extra: Some([("example.com/x".to_owned(), vec!["y".to_owned()])].into()),
        }
    }

    fn authorizer(fake: Fake) -> Authorizer<Fake> {
        Authorizer::new(fake, Settings::default(), Metrics::new().unwrap())
    }

    fn fake() -> Fake {
        Fake {
            users: [("bob-token".to_owned(), bob())].into(),
            allow: vec![("bob".into(), "list".into(), "default".into(), String::new())],
            ..Fake::default()
        }
    }

    fn input<'a>(method: &'a str, path: &'a str, authorization: Option<&'a str>) -> CheckInput<'a> {
        CheckInput {
            method,
            path,
            authorization,
        }
    }

    fn denied(d: Decision) -> (u16, serde_json::Value) {
        let Decision::Deny(r) = d else {
            panic!("{d:?}")
        };
        (r.code, serde_json::from_slice(&r.body).unwrap())
    }

    const BOB: Option<&str> = Some("Bearer bob-token");

    #[tokio::test]
    async fn non_event_requests_are_not_reviewed() {
        let a = authorizer(fake());
        for (m, p) in [
            ("GET", "/api/v1/namespaces/default/pods"),
            ("GET", "/apis/apps/v1/deployments"),
            ("GET", "/api"),
            ("POST", "/apis/foo.example/v1/namespaces/x/eventsources"),
        ] {
            assert_eq!(a.check(input(m, p, None)).await, Decision::Pass, "{p}");
        }
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 0);
        assert_eq!(a.reviewer.access_calls(), 0);
    }

    #[tokio::test]
    async fn bad_event_paths_get_the_filters_refusal_without_reviews() {
        let a = authorizer(fake());
        let (code, v) = denied(
            a.check(input("GET", "/api/v1/namespaces/Bad_NS/events", BOB))
                .await,
        );
        assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));
        let (code, _) = denied(
            a.check(input("DELETE", "/api/v1/namespaces/default/events", BOB))
                .await,
        );
        assert_eq!(code, 405);
        let (code, v) = denied(
            a.check(input(
                "GET",
                "/apis/iam.miloapis.com/v1alpha1/users/-x/control-plane/api/v1/events",
                BOB,
            ))
            .await,
        );
        assert_eq!(code, 400);
        assert_eq!(v["message"], r#"invalid user ID "-x""#);
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn no_or_unknown_tokens_are_401_and_unknown_ones_cached() {
        let a = authorizer(fake());
        let path = "/api/v1/namespaces/default/events";
        for auth in [None, Some("Basic eDp5"), Some("Bearer ")] {
            let (code, v) = denied(a.check(input("GET", path, auth)).await);
            assert_eq!(code, 401);
            assert_eq!(v["message"], "Unauthorized");
        }
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 0);
        for _ in 0..3 {
            let (code, _) = denied(a.check(input("GET", path, Some("Bearer nope"))).await);
            assert_eq!(code, 401);
        }
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 1);
        assert_eq!(a.reviewer.access_calls(), 0);
    }

    #[tokio::test]
    async fn allowed_requests_carry_the_user_and_are_cached() {
        let a = authorizer(fake());
        let path = "/api/v1/namespaces/default/events?limit=5";
        for _ in 0..3 {
            assert_eq!(
                a.check(input("GET", path, BOB)).await,
                Decision::Allow(bob())
            );
        }
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 1);
        assert_eq!(a.reviewer.access_calls(), 1);
        let spec = a.reviewer.access_specs.lock().unwrap()[0].clone();
        assert_eq!(spec.user.as_deref(), Some("bob"));
        assert_eq!(spec.uid.as_deref(), Some("bob-uid"));
        assert_eq!(spec.groups, bob().groups);
        assert_eq!(spec.extra, bob().extra);
        let text = a.render_metrics().await;
        assert!(
            text.contains("activity_events_authz_tokenreviews_sent_total 1"),
            "{text}"
        );
        assert!(text.contains("activity_events_authz_cache_hits_total{cache=\"access\"} 2"));
        assert!(text.contains("activity_events_authz_checks_total{decision=\"allowed\"} 3"));
    }

    #[tokio::test]
    async fn the_url_parent_is_reviewed_and_handed_over() {
        let mut f = fake();
        f.allow.push((
            "bob".into(),
            "create".into(),
            "default".into(),
            "web-app".into(),
        ));
        let a = authorizer(f);
        let path = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane/api/v1/namespaces/default/events";
        let Decision::Allow(user) = a.check(input("POST", path, BOB)).await else {
            panic!()
        };
        let extra = user.extra.unwrap();
        assert_eq!(extra[PARENT_TYPE_EXTRA], ["Project"]);
        assert_eq!(extra[PARENT_NAME_EXTRA], ["web-app"]);
        assert_eq!(
            extra[PARENT_API_GROUP_EXTRA],
            ["resourcemanager.miloapis.com"]
        );
        assert_eq!(extra["example.com/x"], ["y"]);
        let spec = a.reviewer.access_specs.lock().unwrap()[0].clone();
        assert_eq!(spec.extra.unwrap()[PARENT_NAME_EXTRA], ["web-app"]);
        let ra = spec.resource_attributes.unwrap();
        assert_eq!(ra.verb.as_deref(), Some("create"));
        assert_eq!(ra.group.as_deref(), Some(""));
        assert_eq!(ra.name, None);
        // Another control plane is another access review; the token review is cached.
        let other = path.replace("web-app", "other");
        denied(a.check(input("POST", &other, BOB)).await);
        assert_eq!(a.reviewer.access_calls(), 2);
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn denials_are_worded_like_kube_apiserver() {
        let a = authorizer(fake());
        let (code, v) = denied(
            a.check(input(
                "GET",
                "/apis/events.k8s.io/v1/namespaces/ns1/events/e1",
                BOB,
            ))
            .await,
        );
        assert_eq!(code, 403);
        assert_eq!(
            v["message"],
            r#"events.events.k8s.io "e1" is forbidden: User "bob" cannot get resource "events" in API group "events.k8s.io" in the namespace "ns1""#
        );
        let (_, v) = denied(a.check(input("GET", "/api/v1/watch/events", BOB)).await);
        assert_eq!(
            v["message"],
            r#"events is forbidden: User "bob" cannot watch resource "events" in API group "" at the cluster scope"#
        );
        assert!(a
            .render_metrics()
            .await
            .contains("activity_events_authz_denials_total{reason=\"Forbidden\"} 2"));
    }

    #[tokio::test]
    async fn milo_failures_fail_closed_and_are_not_cached() {
        let mut f = fake();
        f.fail = Some(MiloError::Timeout(std::time::Duration::from_secs(5)));
        let a = authorizer(f);
        let path = "/api/v1/namespaces/default/events";
        for _ in 0..2 {
            let (code, v) = denied(a.check(input("GET", path, BOB)).await);
            assert_eq!(code, 503);
            assert_eq!(v["reason"], "ServiceUnavailable");
            assert_eq!(
                v["message"],
                "the request could not be authenticated: Milo is unavailable (timeout)"
            );
        }
        assert_eq!(a.reviewer.token_calls.load(Ordering::SeqCst), 2);
        let mut f = fake();
        f.fail = Some(MiloError::Status {
            code: 403,
            message: "the authorizer may not create tokenreviews".into(),
        });
        let a = authorizer(f);
        let (code, v) = denied(a.check(input("GET", path, BOB)).await);
        assert_eq!(code, 500);
        // Milo's own words stay in the log, not in the client's reply.
        assert!(!v["message"].as_str().unwrap().contains("may not"), "{v}");
        assert!(a.render_metrics().await.contains(
            "activity_events_authz_review_errors_total{kind=\"status\",review=\"tokenreview\"} 1"
        ));
    }

    #[test]
    fn empty_uids_are_not_sent() {
        let attrs = EventAttributes {
            verb: crate::attributes::Verb::List,
            group: crate::attributes::ApiGroup::Core,
            namespace: None,
            name: None,
            parent: None,
        };
        let user = UserInfo {
            username: Some("a".into()),
            uid: Some(String::new()),
            ..UserInfo::default()
        };
        assert_eq!(access_review_spec(&user, &attrs).uid, None);
    }
}
