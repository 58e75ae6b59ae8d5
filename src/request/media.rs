//! Request body media types: which bodies the filter can read, and which patch semantics apply.

use crate::k8s::api::{BodyKind, Operation};
use crate::k8s::status::{KubeError, Reason, Rejection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    Unsupported {
        got: String,
        accepted: &'static str,
    },
    /// The client accepts no JSON representation.
    NotAcceptable(String),
}

impl KubeError for MediaError {
    fn rejection(&self) -> Rejection {
        match self {
            MediaError::Unsupported { got, accepted } => Rejection::new(
                Reason::UnsupportedMediaType,
                format!(
                    "the body of the request was in an unknown format ({got}) - accepted media types include: {accepted}"
                ),
            ),
            MediaError::NotAcceptable(accept) => Rejection::new(
                Reason::NotAcceptable,
                format!(
                    "only application/json is served for events here (including as=Table), but the request accepts: {accept}"
                ),
            ),
        }
    }
}

const OBJECT_TYPES: &str = "application/json";
const PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json";

/// Decide how to read the body of a write, from its `content-type` header.
///
/// Only JSON is accepted: YAML, protobuf and CBOR bodies (and server-side apply) are refused
/// with 415 because the filter has to read and rewrite the body. A missing content type on
/// create/update means JSON, as on the Kubernetes API server; a patch must name its type.
pub fn body_kind(operation: Operation, content_type: Option<&str>) -> Result<BodyKind, MediaError> {
    let essence = content_type.map(essence);
    let unsupported = |accepted| {
        Err(MediaError::Unsupported {
            got: content_type.unwrap_or("none").to_owned(),
            accepted,
        })
    };
    if let Some(ct) = content_type {
        if !charset_is_utf8(ct) {
            return unsupported(if operation == Operation::Patch {
                PATCH_TYPES
            } else {
                OBJECT_TYPES
            });
        }
    }
    match operation {
        Operation::Patch => match essence.as_deref() {
            Some("application/merge-patch+json") => Ok(BodyKind::MergePatch),
            Some("application/strategic-merge-patch+json") => Ok(BodyKind::StrategicMergePatch),
            Some("application/json-patch+json") => Ok(BodyKind::JsonPatch),
            _ => unsupported(PATCH_TYPES),
        },
        _ => match essence.as_deref() {
            None | Some("application/json") => Ok(BodyKind::Object),
            _ => unsupported(OBJECT_TYPES),
        },
    }
}

/// The `Accept` header to send upstream for an event request: only the JSON media ranges of
/// the client's list (JSON with `as=Table` parameters included), because the filter reads and
/// rewrites the responses. `Ok(None)`: send the header unchanged. Protobuf and CBOR clients list
/// JSON as a fallback; a client that accepts no JSON at all gets 406.
pub fn json_accept(accept: Option<&str>) -> Result<Option<String>, MediaError> {
    let Some(accept) = accept else {
        return Ok(None);
    };
    let ranges: Vec<&str> = accept
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    let kept: Vec<&str> = ranges
        .iter()
        .copied()
        .filter(|r| {
            let e = essence_as_sent(r);
            ["application/json", "application/*", "*/*"]
                .iter()
                .any(|json| e.eq_ignore_ascii_case(json))
        })
        .collect();
    if kept.is_empty() {
        if ranges.is_empty() {
            return Ok(None);
        }
        return Err(MediaError::NotAcceptable(accept.to_owned()));
    }
    if kept.len() == ranges.len() {
        return Ok(None);
    }
    Ok(Some(kept.join(",")))
}

/// `type/subtype`, lower-cased, without parameters.
fn essence(content_type: &str) -> String {
    essence_as_sent(content_type).to_ascii_lowercase()
}

/// `type/subtype` without parameters, in the client's letter case (for comparisons that
/// ignore it, without a copy on every request).
fn essence_as_sent(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// JSON is UTF-8; a `charset` parameter naming anything else is refused.
fn charset_is_utf8(content_type: &str) -> bool {
    content_type
        .split(';')
        .skip(1)
        .all(|param| match param.split_once('=') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
                let v = v.trim().trim_matches('"');
                v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_json() {
        for ct in [
            None,
            Some("application/json"),
            Some("application/json; charset=utf-8"),
            Some("Application/JSON;charset=UTF-8"),
        ] {
            assert_eq!(
                body_kind(Operation::Create, ct),
                Ok(BodyKind::Object),
                "{ct:?}"
            );
            assert_eq!(
                body_kind(Operation::Update, ct),
                Ok(BodyKind::Object),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn patch_types() {
        let p = |ct| body_kind(Operation::Patch, Some(ct));
        assert_eq!(p("application/merge-patch+json"), Ok(BodyKind::MergePatch));
        assert_eq!(
            p("application/strategic-merge-patch+json; charset=utf-8"),
            Ok(BodyKind::StrategicMergePatch)
        );
        assert_eq!(p("application/json-patch+json"), Ok(BodyKind::JsonPatch));
        assert!(body_kind(Operation::Patch, None).is_err());
        assert!(p("application/json").is_err());
    }

    #[test]
    fn accept_keeps_only_json() {
        assert_eq!(json_accept(None), Ok(None));
        assert_eq!(json_accept(Some("application/json")), Ok(None));
        assert_eq!(
            json_accept(Some("application/vnd.kubernetes.protobuf,application/json")),
            Ok(Some("application/json".into()))
        );
        assert_eq!(
            json_accept(Some(
                "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
            )),
            Ok(Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json".into()))
        );
        assert_eq!(
            json_accept(Some("application/cbor, */*")),
            Ok(Some("*/*".into()))
        );
        let e = json_accept(Some("application/vnd.kubernetes.protobuf")).unwrap_err();
        assert_eq!(e.rejection().code(), 406);
    }

    #[test]
    fn unsupported_bodies_are_415() {
        for (op, ct) in [
            (Operation::Patch, "application/apply-patch+yaml"),
            (Operation::Patch, "application/apply-patch+cbor"),
            (Operation::Create, "application/vnd.kubernetes.protobuf"),
            (Operation::Update, "application/cbor"),
            (Operation::Create, "application/yaml"),
            (Operation::Create, "text/plain"),
            (Operation::Create, "application/json; charset=latin1"),
        ] {
            let e = body_kind(op, Some(ct)).unwrap_err();
            assert_eq!(e.rejection().code(), 415, "{ct}");
        }
    }
}
