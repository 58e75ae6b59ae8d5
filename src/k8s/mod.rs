//! Kubernetes (and Milo) vocabulary and rules: what an Event request is, Status objects, name
//! rules, tenant control planes, and the events.k8s.io/v1 ⇄ core/v1 conversion. Imports nothing
//! else of the crate, so every other module can build on it.

pub mod api;
pub mod discovery;
pub mod events;
pub mod fold;
pub mod names;
pub mod parent;
pub mod status;
