//! `activity-events-authz`: the Envoy external authorization service for Event requests.
//!
//! Envoy sends Event requests to Activity instead of Milo, so Milo's own authentication and
//! authorization must happen before they leave Envoy. For each request Envoy's ext_authz
//! filter sends, this service classifies it exactly as the events filter will
//! ([`filter`]), reviews the bearer token with Milo (`TokenReview`), adds the parent context
//! of a control-plane URL the way Milo does, asks Milo whether the user may perform the
//! Kubernetes request (`SubjectAccessReview`), and hands the identity to the filter as
//! dynamic metadata. Reviews are cached like kube-apiserver's webhook caches.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod attributes;
pub mod authorizer;
pub mod cache;
pub mod cli;
pub mod filter;
pub mod grpc;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod milo;
pub mod run;
pub mod server;
pub mod status;
