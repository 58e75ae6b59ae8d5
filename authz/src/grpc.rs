//! The Envoy ext_authz gRPC service (`envoy.service.auth.v3.Authorization`): CheckRequest in,
//! the authorizer's decision out as a CheckResponse.
//!
//! - allowed Event request: OK with dynamic metadata `userinfo` (base64 of the UserInfo JSON),
//!   which Envoy stores under `envoy.filters.http.ext_authz` for the filter to read; no headers
//!   are added (the filter builds the `X-Remote-*` headers and removes `Authorization`);
//! - not an Event request: OK, nothing added;
//! - refused: a denied response with the Status JSON, `content-type: application/json`, and
//!   metadata `activity_events_authz: denied` so Envoy's local-reply mappers can tell the
//!   authorizer's replies from Envoy's own (authorizer unreachable).

use std::collections::BTreeMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    header_value_option::HeaderAppendAction, HeaderValue, HeaderValueOption,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::Authorization;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use tonic::{Code, Request, Response};

use crate::authorizer::{Authorizer, CheckInput, Decision};
use crate::identity::{metadata_userinfo, USERINFO_KEY};
use crate::milo::Reviewer;
use crate::status::{self, Reply};

/// Metadata key set on every refusal the authorizer answers itself.
pub const DENIED_KEY: &str = "activity_events_authz";

pub struct AuthzService<R> {
    authorizer: Arc<Authorizer<R>>,
}

impl<R> AuthzService<R> {
    pub fn new(authorizer: Arc<Authorizer<R>>) -> Self {
        AuthzService { authorizer }
    }
}

/// One request header from the check request: the plain map, or the raw header list Envoy
/// sends with `encode_raw_headers`.
fn header<'a>(http: &'a HttpRequest, name: &str) -> Option<&'a str> {
    if let Some(v) = http.headers.get(name) {
        return Some(v.as_str());
    }
    http.header_map.as_ref().and_then(|m| {
        m.headers.iter().find_map(|h| {
            if !h.key.eq_ignore_ascii_case(name) {
                return None;
            }
            if h.raw_value.is_empty() {
                Some(h.value.as_str())
            } else {
                std::str::from_utf8(&h.raw_value).ok()
            }
        })
    })
}

#[tonic::async_trait]
impl<R: Reviewer> Authorization for AuthzService<R> {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, tonic::Status> {
        let check = request.into_inner();
        let http = check
            .attributes
            .and_then(|a| a.request)
            .and_then(|r| r.http);
        let Some(http) = http else {
            // Not an HTTP check (a network-filter ext_authz?): nothing to decide on.
            return Ok(Response::new(deny(&status::internal(
                "the authorization check carries no HTTP request",
            ))));
        };
        let input = CheckInput {
            method: &http.method,
            path: &http.path,
            authorization: header(&http, "authorization"),
        };
        let decision = self.authorizer.check(input).await;
        Ok(Response::new(respond(&decision)))
    }
}

fn string(s: impl Into<String>) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

fn metadata(key: &str, value: Value) -> Struct {
    Struct {
        fields: BTreeMap::from([(key.to_owned(), value)])
            .into_iter()
            .collect(),
    }
}

fn ok(dynamic_metadata: Option<Struct>) -> CheckResponse {
    CheckResponse {
        status: Some(RpcStatus {
            code: Code::Ok.into(),
            message: String::new(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse::default())),
        dynamic_metadata,
    }
}

fn set_header(key: &str, value: String) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value,
            raw_value: Vec::new(),
        }),
        append: None,
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
        keep_empty_value: false,
    }
}

/// The gRPC code Envoy logs for a refusal (the client sees the HTTP status).
fn grpc_code(http: u16) -> Code {
    match http {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        503 => Code::Unavailable,
        500 => Code::Internal,
        _ => Code::InvalidArgument,
    }
}

fn deny(reply: &Reply) -> CheckResponse {
    let mut headers = vec![set_header("content-type", "application/json".into())];
    if let Some(s) = reply.retry_after {
        headers.push(set_header("retry-after", s.to_string()));
    }
    CheckResponse {
        status: Some(RpcStatus {
            code: grpc_code(reply.code).into(),
            message: reply.reason.to_owned(),
            details: Vec::new(),
        }),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(reply.code),
            }),
            headers,
            body: String::from_utf8_lossy(&reply.body).into_owned(),
        })),
        dynamic_metadata: Some(metadata(DENIED_KEY, string("denied"))),
    }
}

pub fn respond(decision: &Decision) -> CheckResponse {
    match decision {
        Decision::Pass => ok(None),
        Decision::Allow(user) => ok(Some(metadata(
            USERINFO_KEY,
            string(metadata_userinfo(user)),
        ))),
        Decision::Deny(reply) => deny(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::HeaderMap;
    use k8s_openapi::api::authentication::v1::UserInfo;

    #[test]
    fn authorization_is_read_from_either_header_form() {
        let mut http = HttpRequest::default();
        assert_eq!(header(&http, "authorization"), None);
        http.header_map = Some(HeaderMap {
            headers: vec![HeaderValue {
                key: "authorization".into(),
                value: String::new(),
                raw_value: b"Bearer raw".to_vec(),
            }],
        });
        assert_eq!(header(&http, "authorization"), Some("Bearer raw"));
        http.headers
            .insert("authorization".into(), "Bearer map".into());
        assert_eq!(header(&http, "authorization"), Some("Bearer map"));
    }

    #[test]
    fn allowed_responses_carry_only_the_userinfo_metadata() {
        let user = UserInfo {
            username: Some("bob".into()),
            ..UserInfo::default()
        };
        let r = respond(&Decision::Allow(user));
        assert_eq!(r.status.unwrap().code, 0);
        let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
            panic!()
        };
        assert!(ok.headers.is_empty() && ok.headers_to_remove.is_empty());
        let md = r.dynamic_metadata.unwrap();
        assert_eq!(md.fields.len(), 1);
        assert!(matches!(
            md.fields[USERINFO_KEY].kind,
            Some(Kind::StringValue(_))
        ));
        let pass = respond(&Decision::Pass);
        assert_eq!(pass.status.unwrap().code, 0);
        assert_eq!(pass.dynamic_metadata, None);
    }

    #[test]
    fn refusals_are_status_json_with_their_http_code() {
        let r = respond(&Decision::Deny(status::unavailable("Milo is down")));
        assert_eq!(r.status.unwrap().code, i32::from(Code::Unavailable));
        let Some(HttpResponse::DeniedResponse(d)) = r.http_response else {
            panic!()
        };
        assert_eq!(d.status.unwrap().code, 503);
        let headers: Vec<(String, String)> = d
            .headers
            .iter()
            .map(|h| {
                let h = h.header.clone().unwrap();
                (h.key, h.value)
            })
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type".to_owned(), "application/json".to_owned()),
                ("retry-after".to_owned(), "1".to_owned())
            ]
        );
        let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(v["code"], 503);
        assert!(r.dynamic_metadata.unwrap().fields.contains_key(DENIED_KEY));
    }
}
