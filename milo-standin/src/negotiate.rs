//! `Accept` negotiation for the few shapes the stand-in produces: plain JSON, aggregated
//! discovery (`apidiscovery.k8s.io` v2 and v2beta1) on `/api` and `/apis`, and
//! `meta.k8s.io` Tables and PartialObjectMetadata for namespaces. Ranges are tried by
//! descending `q`, then in header order, like kube-apiserver's negotiation.

use crate::status::ApiError;

/// What a plain-JSON endpoint serves; said in 406 answers.
const ACCEPTED: &str = "application/json";

#[derive(Debug, Clone, PartialEq)]
struct Range {
    media: String,
    group: Option<String>,
    version: Option<String>,
    as_kind: Option<String>,
    q: f32,
}

fn parse(accept: Option<&str>) -> Vec<Range> {
    let mut ranges: Vec<Range> = accept
        .unwrap_or_default()
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next()?.to_ascii_lowercase();
            if media.is_empty() {
                return None;
            }
            let mut r = Range {
                media,
                group: None,
                version: None,
                as_kind: None,
                q: 1.0,
            };
            for p in parts {
                let Some((k, v)) = p.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "g" => r.group = Some(v),
                    "v" => r.version = Some(v),
                    "as" => r.as_kind = Some(v),
                    "q" => r.q = v.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            (r.q > 0.0).then_some(r)
        })
        .collect();
    // Stable: equal q keeps header order.
    ranges.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    ranges
}

fn is_json(media: &str) -> bool {
    matches!(media, "application/json" | "application/*" | "*/*")
}

/// Discovery document flavour for `/api` and `/apis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryForm {
    Legacy,
    Aggregated(AggregatedVersion),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregatedVersion {
    V2,
    V2beta1,
}

impl AggregatedVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregatedVersion::V2 => "v2",
            AggregatedVersion::V2beta1 => "v2beta1",
        }
    }

    /// The response content type kube-apiserver sends for it.
    pub fn content_type(self) -> String {
        format!(
            "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList",
            self.as_str()
        )
    }
}

pub fn discovery(accept: Option<&str>) -> Result<DiscoveryForm, ApiError> {
    let ranges = parse(accept);
    if ranges.is_empty() {
        return Ok(DiscoveryForm::Legacy);
    }
    for r in &ranges {
        if !is_json(&r.media) {
            continue;
        }
        match (&r.as_kind, r.group.as_deref(), r.version.as_deref()) {
            (None, _, _) => return Ok(DiscoveryForm::Legacy),
            (Some(k), Some("apidiscovery.k8s.io"), Some(v)) if k == "APIGroupDiscoveryList" => {
                match v {
                    "v2" => return Ok(DiscoveryForm::Aggregated(AggregatedVersion::V2)),
                    "v2beta1" => return Ok(DiscoveryForm::Aggregated(AggregatedVersion::V2beta1)),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Err(not_acceptable(&format!(
        "{ACCEPTED}, {}, {}",
        AggregatedVersion::V2.content_type(),
        AggregatedVersion::V2beta1.content_type()
    )))
}

/// Plain JSON documents (everything but the negotiated shapes).
pub fn plain(accept: Option<&str>) -> Result<(), ApiError> {
    let ranges = parse(accept);
    if ranges.is_empty()
        || ranges
            .iter()
            .any(|r| is_json(&r.media) && r.as_kind.is_none())
    {
        Ok(())
    } else {
        Err(not_acceptable(ACCEPTED))
    }
}

fn not_acceptable(list: &str) -> ApiError {
    ApiError::NotAcceptable(list.to_string())
}

/// Object shapes for reads of namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectForm {
    Object,
    Table(&'static str),
    PartialMetadata(&'static str),
}

impl ObjectForm {
    pub fn content_type(self) -> String {
        match self {
            ObjectForm::Object => ACCEPTED.to_string(),
            ObjectForm::Table(v) => format!("application/json;as=Table;v={v};g=meta.k8s.io"),
            ObjectForm::PartialMetadata(v) => {
                format!("application/json;as=PartialObjectMetadata;v={v};g=meta.k8s.io")
            }
        }
    }
}

pub fn object(accept: Option<&str>) -> Result<ObjectForm, ApiError> {
    let ranges = parse(accept);
    if ranges.is_empty() {
        return Ok(ObjectForm::Object);
    }
    for r in &ranges {
        if !is_json(&r.media) {
            continue;
        }
        let Some(kind) = &r.as_kind else {
            return Ok(ObjectForm::Object);
        };
        if r.group.as_deref() != Some("meta.k8s.io") {
            continue;
        }
        let version = match r.version.as_deref() {
            Some("v1") => "v1",
            Some("v1beta1") => "v1beta1",
            _ => continue,
        };
        match kind.as_str() {
            "Table" => return Ok(ObjectForm::Table(version)),
            "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                return Ok(ObjectForm::PartialMetadata(version))
            }
            _ => {}
        }
    }
    Err(not_acceptable(&format!(
        "{ACCEPTED}, application/json;as=Table;v=v1;g=meta.k8s.io"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL_133: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    const KUBECTL_129: &str =
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn discovery_forms() {
        assert_eq!(
            discovery(Some(KUBECTL_133)).unwrap(),
            DiscoveryForm::Aggregated(AggregatedVersion::V2)
        );
        assert_eq!(
            discovery(Some(KUBECTL_129)).unwrap(),
            DiscoveryForm::Aggregated(AggregatedVersion::V2beta1)
        );
        assert_eq!(discovery(None).unwrap(), DiscoveryForm::Legacy);
        assert_eq!(
            discovery(Some("application/json, */*")).unwrap(),
            DiscoveryForm::Legacy
        );
        // q-values beat order.
        assert_eq!(
            discovery(Some(
                "application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            ))
            .unwrap(),
            DiscoveryForm::Aggregated(AggregatedVersion::V2)
        );
        assert_eq!(
            discovery(Some(
                "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList"
            ))
            .unwrap_err()
            .code(),
            406
        );
        assert_eq!(
            discovery(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code(),
            406
        );
        assert_eq!(
            AggregatedVersion::V2.content_type(),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
    }

    #[test]
    fn plain_documents() {
        assert!(plain(None).is_ok());
        assert!(plain(Some("application/json, */*")).is_ok());
        assert!(plain(Some("application/vnd.kubernetes.protobuf, */*")).is_ok());
        assert_eq!(
            plain(Some(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
            ))
            .unwrap_err()
            .code(),
            406
        );
    }

    #[test]
    fn object_forms() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(object(Some(kubectl_get)).unwrap(), ObjectForm::Table("v1"));
        assert_eq!(object(None).unwrap(), ObjectForm::Object);
        assert_eq!(
            object(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            ObjectForm::PartialMetadata("v1")
        );
        assert_eq!(
            object(Some(
                "application/json;as=Table;v=v2;g=meta.k8s.io,application/json"
            ))
            .unwrap(),
            ObjectForm::Object
        );
        assert_eq!(object(Some("application/yaml")).unwrap_err().code(), 406);
    }
}
