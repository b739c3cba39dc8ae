//! The `admission.k8s.io/v1` AdmissionReview envelope: bounded parsing of the request and
//! the response that echoes its uid. A body that is not a v1 AdmissionReview with a request
//! is a [`BadReview`] (answered with an HTTP error and a `metav1.Status`); anything wrong
//! after the uid is known is answered inside an AdmissionReview, so the API server shows the
//! reason to the user.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// Input bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body. The API server sends at most about 3 MiB (its own request
    /// limit); objects are at most 1.5 MiB in etcd.
    pub max_body: usize,
    /// Deepest nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// Most containers (of all three lists) in one pod spec.
    pub max_containers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 3 << 20,
            max_depth: 64,
            max_containers: 256,
        }
    }
}

/// A review that cannot be answered as a review: no uid to echo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReview {
    #[error("the request body is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("the request body nests deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("the request body is not an AdmissionReview: {0}")]
    Malformed(String),
    #[error("apiVersion {0:?} is not supported: send admission.k8s.io/v1")]
    WrongVersion(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    /// The request has a uid but is otherwise invalid: answered inside a review.
    #[error("the request is invalid: {reason}")]
    Invalid { uid: String, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<Value>,
}

/// `group`, `version`, `kind` of the object.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The parts of `request` the webhook uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub uid: String,
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub object: Option<Value>,
}

/// Parses a review body. The uid is the first thing checked after the envelope, so every
/// later problem can be answered inside a review.
pub fn parse(body: &[u8], limits: &Limits) -> Result<Request, BadReview> {
    if body.len() > limits.max_body {
        return Err(BadReview::TooLarge {
            max: limits.max_body,
        });
    }
    if zoll_oci::json::too_deep(body, limits.max_depth) {
        return Err(BadReview::TooDeep {
            max: limits.max_depth,
        });
    }
    let env: Envelope =
        serde_json::from_slice(body).map_err(|e| BadReview::Malformed(e.to_string()))?;
    match env.api_version.as_deref() {
        Some(API_VERSION) => {}
        other => return Err(BadReview::WrongVersion(other.unwrap_or("").to_owned())),
    }
    if env.kind.as_deref() != Some(KIND) {
        return Err(BadReview::Malformed(format!(
            "kind is {:?}, expected {KIND}",
            env.kind.unwrap_or_default()
        )));
    }
    let request = env
        .request
        .filter(|r| !r.is_null())
        .ok_or(BadReview::NoRequest)?;
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty() && u.len() <= 128)
        .ok_or_else(|| BadReview::Malformed("request.uid is missing or invalid".into()))?;
    serde_json::from_value::<Request>(request.clone()).map_err(|e| BadReview::Invalid {
        uid: uid.to_owned(),
        reason: e.to_string(),
    })
}

/// The response of a review.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of the JSONPatch document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// `metav1.Status`, as the API server expects it in a response (and as an HTTP error body).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

/// Longest status message and warning sent (the API server shows them to users).
const MAX_MESSAGE: usize = 4096;
const MAX_WARNING: usize = 512;
const MAX_WARNINGS: usize = 32;

fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

impl Response {
    pub fn allow(uid: &str) -> Response {
        Response {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
            patch_type: None,
            patch: None,
        }
    }

    /// A refusal with `code` (403 for policy denials, 400 for a request that cannot be
    /// understood).
    pub fn deny(uid: &str, code: u16, message: String) -> Response {
        let reason = if code == 400 {
            "BadRequest"
        } else {
            "Forbidden"
        };
        Response {
            allowed: false,
            status: Some(Status {
                code,
                reason: reason.into(),
                message: clip(message, MAX_MESSAGE),
            }),
            ..Response::allow(uid)
        }
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Response {
        let total = warnings.len();
        self.warnings = warnings
            .into_iter()
            .take(MAX_WARNINGS)
            .map(|w| clip(w, MAX_WARNING))
            .collect();
        if total > MAX_WARNINGS {
            self.warnings
                .push(format!("... and {} more warnings", total - MAX_WARNINGS));
        }
        self
    }

    /// Attaches a JSONPatch (when there is anything to patch).
    pub fn with_patch(mut self, ops: &[Value]) -> Response {
        if !ops.is_empty() {
            let doc = serde_json::to_vec(ops).expect("JSON values serialize");
            self.patch_type = Some("JSONPatch".into());
            self.patch = Some(base64::engine::general_purpose::STANDARD.encode(doc));
        }
        self
    }

    /// The whole AdmissionReview document.
    pub fn review(&self) -> Value {
        serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "response": self,
        })
    }
}

impl BadReview {
    /// The HTTP status for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            BadReview::TooLarge { .. } => 413,
            _ => 400,
        }
    }

    /// A `metav1.Status` body for the HTTP error.
    pub fn status_body(&self) -> Value {
        let code = self.http_status();
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "code": code,
            "reason": if code == 413 { "RequestEntityTooLarge" } else { "BadRequest" },
            "message": self.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_respects_char_boundaries() {
        let s = clip("ä".repeat(10), 8);
        assert!(s.len() <= 8 && s.ends_with("..."), "{s}");
    }
}
