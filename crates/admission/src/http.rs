//! The HTTP endpoints: `POST /admission/validate` and `POST /admission/mutate`, mounted on
//! the registry's Router in `zoll serve` or served alone by `zoll admission`.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::review::BadReview;
use crate::webhook::{Mode, Webhook};

/// The webhook's routes (no fallback, so they merge into another Router).
pub fn router(webhook: Webhook) -> Router {
    Router::new()
        .route("/admission/validate", post(validate))
        .route("/admission/mutate", post(mutate))
        .route("/admission/healthz", get(|| async { "ok\n" }))
        .with_state(webhook)
}

async fn validate(State(w): State<Webhook>, req: Request) -> Response {
    answer(&w, Mode::Validate, req).await
}

async fn mutate(State(w): State<Webhook>, req: Request) -> Response {
    answer(&w, Mode::Mutate, req).await
}

fn error(bad: BadReview) -> Response {
    let status = StatusCode::from_u16(bad.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    tracing::warn!(error = %bad, "malformed admission review");
    (status, Json(bad.status_body())).into_response()
}

async fn answer(w: &Webhook, mode: Mode, req: Request) -> Response {
    let max = w.limits().max_body;
    let too_large = BadReview::TooLarge { max };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return error(too_large);
    }
    let body = match axum::body::to_bytes(req.into_body(), max).await {
        Ok(b) => b,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return error(if over {
                too_large
            } else {
                BadReview::Malformed(format!("cannot read the body: {e}"))
            });
        }
    };
    match w.review(mode, &body).await {
        Ok(r) => Json(r.review()).into_response(),
        Err(bad) => error(bad),
    }
}
