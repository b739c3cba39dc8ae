//! Accounts: who am I, users (system administrators only), passwords.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use zoll_store::{Account, AccountKind};

use super::{Ctx, bad, created, json_body, no_content, not_found, ok, valid_account};
use crate::auth::password;
use crate::error::{ApiError, ApiResult};

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["whoami"]) => whoami(c).await,
        ("GET", ["users"]) => {
            c.require_admin("account.list", "accounts").await?;
            let list: Vec<Value> = c
                .app
                .store
                .accounts(None)
                .await?
                .iter()
                .map(account_json)
                .collect();
            ok(json!(list))
        }
        ("POST", ["users"]) => create_user(c, body).await,
        ("DELETE", ["users", name]) => {
            c.require_admin("account.delete", name).await?;
            if !c.app.store.delete_account(name).await? {
                return Err(not_found(&format!("account {name}")));
            }
            c.audit("account.delete", name, "ok", "").await;
            no_content()
        }
        ("PUT", ["users", name, "password"]) => set_password(c, name, body).await,
        _ => Err(not_found("endpoint")),
    }
}

/// An account as the API shows it (never its password hash).
pub fn account_json(a: &Account) -> Value {
    json!({
        "name": a.name,
        "kind": match a.kind { AccountKind::User => "user", AccountKind::Robot => "robot" },
        "admin": a.admin,
        "disabled": a.disabled,
        "project": a.project,
        "permissions": a.permissions.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        "expires_ms": a.expires_ms,
        "description": a.description,
        "created_ms": a.created_ms,
    })
}

async fn whoami(c: &Ctx<'_>) -> ApiResult {
    let memberships = match c.id.account() {
        Some(a) => c.app.store.memberships(&a.name).await?,
        None => Vec::new(),
    };
    ok(json!({
        "name": c.id.name(),
        "admin": c.id.is_admin(),
        "projects": memberships.into_iter().map(|(p, r)| json!({"project": p, "role": r})).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(c: &Ctx<'_>, body: Body) -> ApiResult {
    let u: NewUser = json_body(body).await?;
    c.require_admin("account.create", &u.name).await?;
    valid_account(&u.name)?;
    if u.password.len() < 8 || u.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(bad("passwords need 8 to 1024 bytes"));
    }
    let hash = hash_password(c, &u.password).await?;
    if !c
        .app
        .store
        .put_account(&Account::user(&u.name, hash, u.admin), false)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "EXISTS",
            format!("account {} exists", u.name),
        ));
    }
    c.audit(
        "account.create",
        &u.name,
        "ok",
        if u.admin { "admin" } else { "" },
    )
    .await;
    created(json!({"name": u.name, "admin": u.admin}))
}

/// An argon2id hash of a new password, through the server's bounded hashing.
async fn hash_password(c: &Ctx<'_>, password: &str) -> ApiResult<String> {
    c.app.auth.hashing.hash(password).await.map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many password operations in progress; try again shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    })
}

async fn set_password(c: &Ctx<'_>, name: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    struct Body_ {
        password: String,
    }
    let self_service =
        c.id.account()
            .is_some_and(|a| a.name == name && a.kind == AccountKind::User);
    if !self_service {
        c.require_admin("account.password", name).await?;
    }
    let b: Body_ = json_body(body).await?;
    if b.password.len() < 8 || b.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(bad("passwords need 8 to 1024 bytes"));
    }
    let hash = hash_password(c, &b.password).await?;
    if !c.app.store.set_password_hash(name, &hash).await? {
        return Err(not_found(&format!("account {name}")));
    }
    c.audit("account.password", name, "ok", "").await;
    no_content()
}
