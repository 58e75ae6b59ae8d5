//! Asking Milo: `TokenReview` (who is this token?) and `SubjectAccessReview` (may this user do
//! this?), through kube-rs with the connection a kubeconfig describes.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// What Milo said about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenOutcome {
    Authenticated(UserInfo),
    /// Not a token Milo knows (or not for the audiences asked for).
    Unauthenticated,
}

/// What Milo said about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessOutcome {
    Allowed,
    /// Denied, or no authorizer had an opinion; the reason is Milo's, possibly empty.
    Denied {
        reason: String,
    },
}

/// Why a review has no answer. Never cached: the next request asks again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MiloError {
    #[error("Milo did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("Milo could not be reached: {0}")]
    Unreachable(String),
    /// Milo answered the review with an error status.
    #[error("Milo answered {code}: {message}")]
    Status { code: u16, message: String },
    /// Milo's answer is not a usable review.
    #[error("Milo's answer is not a usable review: {0}")]
    Invalid(String),
}

impl MiloError {
    /// Transient failures (worth a retry by the client) as opposed to a misconfiguration.
    pub fn is_unavailable(&self) -> bool {
        match self {
            MiloError::Timeout(_) | MiloError::Unreachable(_) => true,
            MiloError::Status { code, .. } => *code >= 500 || *code == 429,
            MiloError::Invalid(_) => false,
        }
    }

    /// Label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            MiloError::Timeout(_) => "timeout",
            MiloError::Unreachable(_) => "unreachable",
            MiloError::Status { .. } => "status",
            MiloError::Invalid(_) => "invalid",
        }
    }
}

/// The two reviews. A trait so the caching and decision logic can be tested without Milo.
pub trait Reviewer: Send + Sync + 'static {
    fn review_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> impl Future<Output = Result<TokenOutcome, MiloError>> + Send;

    fn review_access(
        &self,
        spec: &SubjectAccessReviewSpec,
    ) -> impl Future<Output = Result<AccessOutcome, MiloError>> + Send;
}

/// Milo through kube-rs.
#[derive(Clone)]
pub struct KubeReviewer {
    tokens: Api<TokenReview>,
    access: Api<SubjectAccessReview>,
    timeout: Duration,
}

impl KubeReviewer {
    /// Connect as the kubeconfig says (its current context, or `context`). Every review is
    /// bounded by `timeout`, connecting included.
    pub async fn from_kubeconfig(
        path: &Path,
        context: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let kubeconfig = Kubeconfig::read_from(path)
            .with_context(|| format!("read the Milo kubeconfig {}", path.display()))?;
        let options = KubeConfigOptions {
            context,
            ..KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .with_context(|| format!("use the Milo kubeconfig {}", path.display()))?;
        // Connecting has its own bound (so a dead Milo is "unreachable"); the whole review,
        // reading included, is bounded by `bounded` (a hanging Milo is a "timeout").
        config.connect_timeout = Some(timeout);
        config.read_timeout = None;
        config.write_timeout = None;
        // One review is one request: the client decides about retries, with Retry-After.
        config.default_retry = false;
        let client = kube::Client::try_from(config).context("build the Milo client")?;
        Ok(KubeReviewer {
            tokens: Api::all(client.clone()),
            access: Api::all(client),
            timeout,
        })
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, MiloError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(MiloError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(from_kube(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

fn from_kube(e: kube::Error) -> MiloError {
    match e {
        kube::Error::Api(status) => MiloError::Status {
            code: status.code,
            message: status.message.clone(),
        },
        kube::Error::SerdeError(e) => MiloError::Invalid(e.to_string()),
        // Connection, TLS and protocol failures: the cause chain says which.
        other => {
            let mut msg = other.to_string();
            let mut source = std::error::Error::source(&other);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            MiloError::Unreachable(msg)
        }
    }
}

impl Reviewer for KubeReviewer {
    async fn review_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<TokenOutcome, MiloError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_owned(),
                audiences: (!audiences.is_empty()).then(|| audiences.to_vec()),
            },
            ..TokenReview::default()
        };
        let answer = self
            .bounded(self.tokens.create(&PostParams::default(), &review))
            .await?;
        token_outcome(answer, audiences)
    }

    async fn review_access(
        &self,
        spec: &SubjectAccessReviewSpec,
    ) -> Result<AccessOutcome, MiloError> {
        let review = SubjectAccessReview {
            spec: spec.clone(),
            ..SubjectAccessReview::default()
        };
        let answer = self
            .bounded(self.access.create(&PostParams::default(), &review))
            .await?;
        access_outcome(answer)
    }
}

/// Read a TokenReview answer as kube-apiserver's webhook token authenticator reads it.
pub fn token_outcome(answer: TokenReview, audiences: &[String]) -> Result<TokenOutcome, MiloError> {
    let status = answer
        .status
        .ok_or_else(|| MiloError::Invalid("TokenReview without status".into()))?;
    if status.authenticated != Some(true) {
        if let Some(e) = status.error.filter(|e| !e.is_empty()) {
            tracing::debug!(error = %e, "token not authenticated");
        }
        return Ok(TokenOutcome::Unauthenticated);
    }
    // Asked for audiences, the token must be valid for at least one of them.
    if !audiences.is_empty() {
        let granted = status.audiences.unwrap_or_default();
        if !granted.iter().any(|a| audiences.contains(a)) {
            return Ok(TokenOutcome::Unauthenticated);
        }
    }
    match status.user {
        Some(user) if user.username.as_deref().is_some_and(|u| !u.is_empty()) => {
            Ok(TokenOutcome::Authenticated(user))
        }
        // Nobody to act as: the filter would refuse it too.
        _ => Ok(TokenOutcome::Unauthenticated),
    }
}

/// Read a SubjectAccessReview answer as kube-apiserver's webhook authorizer reads it.
pub fn access_outcome(answer: SubjectAccessReview) -> Result<AccessOutcome, MiloError> {
    let status = answer
        .status
        .ok_or_else(|| MiloError::Invalid("SubjectAccessReview without status".into()))?;
    if let Some(e) = status.evaluation_error.as_deref().filter(|e| !e.is_empty()) {
        tracing::debug!(error = %e, "access review evaluation error");
    }
    let denied = status.denied == Some(true);
    match (status.allowed, denied) {
        (true, true) => Err(MiloError::Invalid(
            "SubjectAccessReview both allowed and denied".into(),
        )),
        (true, false) => Ok(AccessOutcome::Allowed),
        (false, _) => Ok(AccessOutcome::Denied {
            reason: status.reason.unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authentication::v1::TokenReviewStatus;
    use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;

    fn token_answer(status: TokenReviewStatus) -> TokenReview {
        TokenReview {
            status: Some(status),
            ..TokenReview::default()
        }
    }

    fn bob() -> UserInfo {
        UserInfo {
            username: Some("bob".into()),
            ..UserInfo::default()
        }
    }

    #[test]
    fn token_reviews() {
        let ok = TokenReviewStatus {
            authenticated: Some(true),
            user: Some(bob()),
            audiences: Some(vec!["milo".into()]),
            ..TokenReviewStatus::default()
        };
        assert_eq!(
            token_outcome(token_answer(ok.clone()), &[]).unwrap(),
            TokenOutcome::Authenticated(bob())
        );
        assert_eq!(
            token_outcome(token_answer(ok.clone()), &["milo".into()]).unwrap(),
            TokenOutcome::Authenticated(bob())
        );
        assert_eq!(
            token_outcome(token_answer(ok.clone()), &["other".into()]).unwrap(),
            TokenOutcome::Unauthenticated
        );
        let no = TokenReviewStatus {
            authenticated: Some(false),
            error: Some("token expired".into()),
            ..TokenReviewStatus::default()
        };
        assert_eq!(
            token_outcome(token_answer(no), &[]).unwrap(),
            TokenOutcome::Unauthenticated
        );
        let nameless = TokenReviewStatus {
            authenticated: Some(true),
            user: Some(UserInfo::default()),
            ..TokenReviewStatus::default()
        };
        assert_eq!(
            token_outcome(token_answer(nameless), &[]).unwrap(),
            TokenOutcome::Unauthenticated
        );
        assert!(matches!(
            token_outcome(TokenReview::default(), &[]),
            Err(MiloError::Invalid(_))
        ));
    }

    fn access_answer(
        allowed: bool,
        denied: Option<bool>,
        reason: Option<&str>,
    ) -> SubjectAccessReview {
        SubjectAccessReview {
            status: Some(SubjectAccessReviewStatus {
                allowed,
                denied,
                reason: reason.map(str::to_owned),
                evaluation_error: None,
            }),
            ..SubjectAccessReview::default()
        }
    }

    #[test]
    fn access_reviews() {
        assert_eq!(
            access_outcome(access_answer(true, None, None)).unwrap(),
            AccessOutcome::Allowed
        );
        assert_eq!(
            access_outcome(access_answer(false, Some(true), Some("no"))).unwrap(),
            AccessOutcome::Denied {
                reason: "no".into()
            }
        );
        // No opinion is a denial without a reason.
        assert_eq!(
            access_outcome(access_answer(false, None, None)).unwrap(),
            AccessOutcome::Denied {
                reason: String::new()
            }
        );
        assert!(matches!(
            access_outcome(access_answer(true, Some(true), None)),
            Err(MiloError::Invalid(_))
        ));
        assert!(matches!(
            access_outcome(SubjectAccessReview::default()),
            Err(MiloError::Invalid(_))
        ));
    }

    #[test]
    fn transient_errors_are_unavailable() {
        assert!(MiloError::Timeout(Duration::from_secs(1)).is_unavailable());
        assert!(MiloError::Unreachable("x".into()).is_unavailable());
        let status = |code| MiloError::Status {
            code,
            message: String::new(),
        };
        assert!(status(503).is_unavailable());
        assert!(status(429).is_unavailable());
        assert!(!status(403).is_unavailable());
        assert!(!MiloError::Invalid("x".into()).is_unavailable());
    }
}
