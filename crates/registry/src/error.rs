//! The one place where failures become OCI error JSON and HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoll_oci::{DigestError, NameError};
use zoll_store::StoreError;

/// An error as the Distribution API reports it: `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra response headers (e.g. `Content-Range` on 416, `Range` for uploads).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn name_invalid(e: NameError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "NAME_INVALID", e.to_string())
    }

    pub fn digest_invalid(e: DigestError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e.to_string())
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }

    pub fn range_invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID", message)
    }
}

impl From<zoll_approval::ApprovalError> for ApiError {
    fn from(e: zoll_approval::ApprovalError) -> Self {
        use StatusCode as S;
        use zoll_approval::ApprovalError as E;
        let e = match e {
            E::Store(inner) => return ApiError::from(inner),
            other => other,
        };
        let (status, code) = match &e {
            E::UnknownKey(_) | E::Invalid(_) => (S::BAD_REQUEST, "INVALID"),
            E::NotAllowed { .. }
            | E::BadSignature { .. }
            | E::OwnRequest { .. }
            | E::WrongAccount { .. } => (S::FORBIDDEN, "DENIED"),
            E::NotFound(_) => (S::NOT_FOUND, "NOT_FOUND"),
            E::Target(_) => (S::NOT_FOUND, "MANIFEST_UNKNOWN"),
            E::Closed { .. } | E::Expired(_) | E::AlreadyVoted { .. } => (S::CONFLICT, "CONFLICT"),
            E::TooMany(_) => (S::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
            E::Store(_) | E::Config { .. } | E::Sign(_) | E::Api(_) => {
                tracing::error!(error = %e, "approvals failure");
                return ApiError::new(S::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal error");
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        let (status, code) = match &e {
            StoreError::BlobUnknown(_) => (S::NOT_FOUND, "BLOB_UNKNOWN"),
            // A damaged copy is reported as absent so that clients push it again, which
            // replaces it; it is never served.
            StoreError::Corrupt(_) => (S::NOT_FOUND, "BLOB_UNKNOWN"),
            StoreError::ManifestUnknown(_) => (S::NOT_FOUND, "MANIFEST_UNKNOWN"),
            StoreError::NameUnknown(_) => (S::NOT_FOUND, "NAME_UNKNOWN"),
            StoreError::UploadUnknown(_) => (S::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            StoreError::UploadInvalid(_) | StoreError::Body(_) => {
                (S::BAD_REQUEST, "BLOB_UPLOAD_INVALID")
            }
            StoreError::DigestMismatch { .. } => (S::BAD_REQUEST, "DIGEST_INVALID"),
            StoreError::RangeMismatch { .. }
            | StoreError::SizeMismatch { .. }
            | StoreError::UploadRace(_) => (S::RANGE_NOT_SATISFIABLE, "RANGE_INVALID"),
            StoreError::TooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
            StoreError::ManifestInvalid(_) => (S::BAD_REQUEST, "MANIFEST_INVALID"),
            StoreError::ManifestBlobUnknown(_) => (S::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            StoreError::Busy(_) => (S::TOO_MANY_REQUESTS, "TOOMANYREQUESTS"),
            StoreError::Denied(_) => (S::FORBIDDEN, "DENIED"),
            // The spec lets a registry refuse a blob delete with 405; DENIED says why.
            StoreError::Referenced(_) => (S::METHOD_NOT_ALLOWED, "DENIED"),
            StoreError::Locked(_)
            | StoreError::Unreadable(_)
            | StoreError::Outdated(_)
            | StoreError::TooNew { .. }
            | StoreError::Io(_)
            | StoreError::Db(_) => {
                tracing::error!(error = %e, "storage failure");
                return ApiError::new(S::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal error");
            }
        };
        ApiError::new(status, code, msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code, "message": self.message, "detail": null }]
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

pub type ApiResult<T = Response> = Result<T, ApiError>;
