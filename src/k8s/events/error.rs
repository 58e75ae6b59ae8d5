//! Why a conversion or check refused its input, as a Kubernetes Status; and the warnings for
//! unknown fields.

use crate::k8s::names::go_quote;
use crate::k8s::status::{Cause, Details, KubeError, Reason, Rejection};

/// Why a conversion, patch translation, selector translation or check refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// 400: the field selector does not parse (message as `fields.ParseSelector` words it).
    InvalidFieldSelector(String),
    /// 400: `field label not supported: <label>`.
    UnsupportedFieldLabel(String),
    /// 400: the patch document has the wrong JSON shape (not decodable by the API server).
    InvalidPatch(String),
    /// 422: a JSON-patch operation that cannot be applied to the events.k8s.io/v1 document (or
    /// cannot be carried over to the core shape). kube-apiserver answers every failed JSON-patch
    /// application with `the server rejected our request due to an error in our request`; the
    /// detail is added as the single cause.
    UnprocessablePatch { path: String, detail: String },
    /// 400: the `apiVersion`/`kind` in a patch is not events.k8s.io/v1 `Event`.
    TypeMismatch(String),
    /// 400: a field of the wrong JSON type, as the API server's decoder reports it.
    WrongType(String),
    /// 400: unknown fields under `fieldValidation=Strict`.
    UnknownFields(Vec<String>),
    /// 400: `metadata.namespace` differs from the namespace in the URL.
    NamespaceMismatch,
    /// 400: an update names another object than its URL (`checkName` of the update handler).
    NameMismatch { object: String, url: String },
    /// 422: validation failed.
    Invalid { name: String, causes: Vec<Cause> },
    /// 400: a key that differs from this field only by (Go's Unicode) case folding.
    CaseVariant(&'static str),
}

pub(super) const DECODE_PREFIX: &str = "Event in version \"v1\" cannot be handled as a Event: ";

impl KubeError for ConvertError {
    fn rejection(&self) -> Rejection {
        match self {
            ConvertError::InvalidFieldSelector(m)
            | ConvertError::InvalidPatch(m)
            | ConvertError::TypeMismatch(m) => Rejection::new(Reason::BadRequest, m.clone()),
            ConvertError::UnsupportedFieldLabel(label) => Rejection::new(
                Reason::BadRequest,
                format!("field label not supported: {label}"),
            ),
            ConvertError::UnprocessablePatch { path, detail } => Rejection::new(
                Reason::Invalid,
                "the server rejected our request due to an error in our request",
            )
            .with_details(Details {
                causes: vec![Cause {
                    reason: String::new(),
                    message: detail.clone(),
                    field: path.clone(),
                }],
                ..Details::default()
            }),
            ConvertError::WrongType(m) => {
                Rejection::new(Reason::BadRequest, format!("{DECODE_PREFIX}{m}"))
            }
            ConvertError::UnknownFields(fields) => {
                // The same list the warnings give under `Warn`: sorted, unique, capped.
                let list = unknown_field_warnings(fields);
                Rejection::new(
                    Reason::BadRequest,
                    format!("{DECODE_PREFIX}strict decoding error: {}", list.join(", ")),
                )
            }
            ConvertError::NamespaceMismatch => Rejection::new(
                Reason::BadRequest,
                "the namespace of the provided object does not match the namespace sent on the request",
            ),
            ConvertError::NameMismatch { object, url } => Rejection::new(
                Reason::BadRequest,
                format!(
                    "the name of the object ({object}) does not match the name on the URL ({url})"
                ),
            ),
            ConvertError::Invalid { name, causes } => invalid_event(name, causes.clone()),
            ConvertError::CaseVariant(field) => crate::k8s::fold::case_variant_rejection(field),
        }
    }
}

/// The 422 `Invalid` Status kube-apiserver answers an invalid Event with: `errors.NewInvalid`
/// with the internal kind `Event` and no group, so `Event "<name>" is invalid: <errors>`.
pub fn invalid_event(name: &str, causes: Vec<Cause>) -> Rejection {
    Rejection::invalid("", "Event", name, causes)
}

/// The most strict-decoding errors `sigs.k8s.io/json` collects for one body (`saveStrictError`).
pub const MAX_UNKNOWN_FIELDS: usize = 100;
/// kube-apiserver's warning recorder (`k8s.io/apiserver/pkg/endpoints/filters/warning.go`):
/// once the warnings of one response would exceed this many characters in total, all of them
/// are cut to [`WARNING_TRUNCATE_RUNES`] characters and written again, and later ones are left
/// out once the total is reached.
pub const WARNING_TOTAL_RUNES: usize = 4 * 1024;
pub const WARNING_TRUNCATE_RUNES: usize = 256;

/// The warnings kube-apiserver adds under `fieldValidation=Warn` (the default when the
/// parameter is absent) for the unknown fields [`events_v1_to_core`] and the patch translators
/// return: `unknown field "<path>"`, at most [`MAX_UNKNOWN_FIELDS`], deduplicated.
///
/// kube-apiserver lists them in the order the decoder meets them in the body. The filter's
/// JSON maps are sorted, so the order here is the sorted one (same set, maybe another order).
pub fn unknown_field_warnings(fields: &[String]) -> Vec<String> {
    // Sorted and deduplicated in place rather than through a `BTreeSet` (whose `collect` sorts
    // with the standard library's driftsort, 6 KB of wasm): the same set in the same order.
    let mut unique: Vec<&String> = fields.iter().collect();
    crate::sort::unstable(&mut unique);
    unique.dedup();
    unique
        .into_iter()
        .take(MAX_UNKNOWN_FIELDS)
        .map(|f| format!("unknown field {}", go_quote(f)))
        .collect()
}

/// The `Warning` response header values for these warning texts, as kube-apiserver writes
/// them: `299 - "<text>"` with `"` and `\` escaped (`net.NewWarningHeader`), duplicates and
/// empty texts left out, and the recorder's total-size rule applied. The texts come from
/// [`unknown_field_warnings`], whose quoting leaves no control character that a header could
/// not carry; any that another caller passes are replaced by spaces, as Go's HTTP server does
/// with CR and LF in header values.
pub fn warning_headers(texts: &[String]) -> Vec<String> {
    let cut = |t: &str| -> String { t.chars().take(WARNING_TRUNCATE_RUNES).collect() };
    let mut recorded: Vec<&str> = Vec::with_capacity(texts.len());
    let mut out: Vec<String> = Vec::with_capacity(texts.len());
    let mut written = 0usize;
    let mut truncating = false;
    for text in texts {
        if text.is_empty() || (truncating && written >= WARNING_TOTAL_RUNES) {
            continue;
        }
        if recorded.contains(&text.as_str()) {
            continue;
        }
        recorded.push(text);
        let text = if truncating { cut(text) } else { text.clone() };
        let runes = text.chars().count();
        if truncating || written + runes <= WARNING_TOTAL_RUNES {
            written += runes;
            out.push(warning_header(&text));
            continue;
        }
        // Over the limit: start again with every warning so far cut short.
        truncating = true;
        written = 0;
        out.clear();
        for earlier in &recorded {
            let t = cut(earlier);
            written += t.chars().count();
            out.push(warning_header(&t));
        }
    }
    out
}

/// `net.NewWarningHeader(299, "-", text)`.
fn warning_header(text: &str) -> String {
    let mut header = String::with_capacity(text.len() + 8);
    header.push_str("299 - \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                header.push('\\');
                header.push(c);
            }
            c if c.is_control() => header.push(' '),
            c => header.push(c),
        }
    }
    header.push('"');
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_warnings_are_sorted_and_unique() {
        let w = unknown_field_warnings(&["b".into(), "a".into(), "b".into()]);
        assert_eq!(w, vec!["unknown field \"a\"", "unknown field \"b\""]);
        let many: Vec<String> = (0..150).map(|i| format!("f{i:03}")).collect();
        assert_eq!(unknown_field_warnings(&many).len(), MAX_UNKNOWN_FIELDS);
    }

    #[test]
    fn warning_headers_are_worded_like_kube_apiserver() {
        let w = unknown_field_warnings(&["spec.foo".into()]);
        assert_eq!(
            warning_headers(&w),
            vec![r#"299 - "unknown field \"spec.foo\"""#]
        );
        // A key with quotes, backslashes and control characters: escaped once by the Go
        // quoting of the field name, once more by the header quoting; no raw control byte.
        let w = unknown_field_warnings(&["a\"b\\c\r\nX-Injected: 1".into()]);
        let h = warning_headers(&w);
        assert_eq!(
            h,
            vec![r#"299 - "unknown field \"a\\\"b\\\\c\\r\\nX-Injected: 1\"""#]
        );
        assert!(h[0].bytes().all(|b| b >= 0x20 && b != 0x7f));
        assert_eq!(
            warning_headers(&["x\ny".into(), "".into(), "x\ny".into()]),
            vec!["299 - \"x y\""]
        );
    }

    #[test]
    fn warning_headers_follow_the_recorders_size_rule() {
        // Under the total: kept whole.
        let texts: Vec<String> = (0..10).map(|i| format!("{i}{}", "é".repeat(300))).collect();
        let h = warning_headers(&texts);
        assert_eq!(h.len(), 10);
        assert_eq!(h[0].chars().count(), 301 + 8);
        // Over the total: every warning cut to 256 characters, then more while under 4096.
        let texts: Vec<String> = (0..40)
            .map(|i| format!("{i:02}{}", "x".repeat(300)))
            .collect();
        let h = warning_headers(&texts);
        assert_eq!(h.len(), WARNING_TOTAL_RUNES / WARNING_TRUNCATE_RUNES);
        assert!(h.iter().all(|v| v.chars().count() == 256 + 8));
        assert!(h[0].starts_with("299 - \"00xxx"));
        assert!(h[15].starts_with("299 - \"15xxx"));
    }
}
