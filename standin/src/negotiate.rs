//! Response shape negotiation from the `Accept` header, as kube-apiserver does for
//! `as=Table` (kubectl get), `as=PartialObjectMetadata[List]` and plain JSON.

use crate::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// The `includeObject` query parameter; empty means Metadata.
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(ApiError::bad_request(format!(
                "Unable to convert to Table as requested: includeObject: Unsupported value: \"{other}\": supported values: \"None\", \"Object\", \"Metadata\""
            ))),
        }
    }
}

/// What the body of a successful read should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/{version}` Table.
    Table { version: &'static str },
    /// `PartialObjectMetadata` (single objects and watch events) or `...List`.
    PartialMetadata { version: &'static str },
}

/// Picks the first acceptable media type in the header's order. `Err` when the header names
/// only types this server cannot produce (406).
pub fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::Object);
    };
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut as_kind = None;
        let mut group = None;
        let mut version = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                let v = v.trim().trim_matches('"');
                match k.trim() {
                    "as" => as_kind = Some(v.to_string()),
                    "g" => group = Some(v.to_string()),
                    "v" => version = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        if !matches!(media.as_str(), "application/json" | "application/*" | "*/*") {
            continue;
        }
        let Some(as_kind) = as_kind else {
            return Ok(Output::Object);
        };
        if group.as_deref() != Some("meta.k8s.io") {
            continue;
        }
        let version = match version.as_deref() {
            Some("v1") => "v1",
            Some("v1beta1") => "v1beta1",
            _ => continue,
        };
        match as_kind.as_str() {
            "Table" => return Ok(Output::Table { version }),
            "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                return Ok(Output::PartialMetadata { version })
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_table_accept() {
        let a = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(a)).unwrap(), Output::Table { version: "v1" });
        let b = "application/json;as=Table;g=meta.k8s.io;v=v1beta1";
        assert_eq!(
            negotiate(Some(b)).unwrap(),
            Output::Table { version: "v1beta1" }
        );
    }

    #[test]
    fn plain_and_fallbacks() {
        assert_eq!(negotiate(None).unwrap(), Output::Object);
        assert_eq!(negotiate(Some("")).unwrap(), Output::Object);
        assert_eq!(negotiate(Some("*/*")).unwrap(), Output::Object);
        assert_eq!(
            negotiate(Some(
                "application/vnd.kubernetes.protobuf, application/json"
            ))
            .unwrap(),
            Output::Object
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=Table;v=v2;g=meta.k8s.io,application/json"
            ))
            .unwrap(),
            Output::Object
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            Output::PartialMetadata { version: "v1" }
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code,
            406
        );
    }

    #[test]
    fn include_object_values() {
        assert_eq!(IncludeObject::parse(None).unwrap(), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::parse(Some("Object")).unwrap(),
            IncludeObject::Object
        );
        assert_eq!(
            IncludeObject::parse(Some("None")).unwrap(),
            IncludeObject::None
        );
        assert_eq!(IncludeObject::parse(Some("x")).unwrap_err().code, 400);
    }
}
