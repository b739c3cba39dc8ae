//! Governance records: accounts (people and robots), projects with their policies, project
//! membership and the keys that sign registry tokens. The store keeps them; what a role or a
//! policy means is decided by the registry.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::Result;
use crate::meta::to_u64;
use crate::{Store, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Robot,
}

impl AccountKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Robot => "robot",
        }
    }
}

/// A person or a robot. Robots belong to one project and carry their own permissions.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub kind: AccountKind,
    pub password_hash: String,
    pub admin: bool,
    pub disabled: bool,
    pub project: Option<String>,
    /// Robots: a JSON list of `{"repositories": PATTERN, "actions": [..]}`.
    pub permissions: Option<String>,
    pub expires_ms: Option<i64>,
    pub description: String,
    pub created_ms: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("admin", &self.admin)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn user(name: &str, password_hash: String, admin: bool) -> Account {
        Account {
            name: name.to_owned(),
            kind: AccountKind::User,
            password_hash,
            admin,
            disabled: false,
            project: None,
            permissions: None,
            expires_ms: None,
            description: String::new(),
            created_ms: now_ms(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub public: bool,
    pub quota_bytes: Option<u64>,
    pub quota_artifacts: Option<u64>,
    /// JSON list of immutable-tag rules.
    pub immutable_rules: String,
    /// JSON retention policy, if any.
    pub retention: Option<String>,
    pub created_ms: i64,
}

impl Project {
    pub fn new(name: &str, public: bool) -> Project {
        Project {
            name: name.to_owned(),
            public,
            quota_bytes: None,
            quota_artifacts: None,
            immutable_rules: "[]".into(),
            retention: None,
            created_ms: now_ms(),
        }
    }
}

const ACCOUNT_COLUMNS: &str = "name, kind, password_hash, admin, disabled, project, permissions, \
     expires_ms, description, created_ms";
const PROJECT_COLUMNS: &str =
    "name, public, quota_bytes, quota_artifacts, immutable_rules, retention, created_ms";

fn account(r: AnyRow) -> Result<Account> {
    let kind: String = r.try_get(1)?;
    Ok(Account {
        name: r.try_get(0)?,
        kind: if kind == "robot" {
            AccountKind::Robot
        } else {
            AccountKind::User
        },
        password_hash: r.try_get(2)?,
        admin: r.try_get::<i64, _>(3)? != 0,
        disabled: r.try_get::<i64, _>(4)? != 0,
        project: r.try_get(5)?,
        permissions: r.try_get(6)?,
        expires_ms: r.try_get(7)?,
        description: r.try_get(8)?,
        created_ms: r.try_get(9)?,
    })
}

fn project(r: AnyRow) -> Result<Project> {
    Ok(Project {
        name: r.try_get(0)?,
        public: r.try_get::<i64, _>(1)? != 0,
        quota_bytes: r.try_get::<Option<i64>, _>(2)?.map(to_u64),
        quota_artifacts: r.try_get::<Option<i64>, _>(3)?.map(to_u64),
        immutable_rules: r.try_get(4)?,
        retention: r.try_get(5)?,
        created_ms: r.try_get(6)?,
    })
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl Store {
    pub async fn account(&self, name: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(self.meta.reader())
            .await?;
        row.map(account).transpose()
    }

    /// Every account; robots of one project with `project`.
    pub async fn accounts(&self, project: Option<&str>) -> Result<Vec<Account>> {
        let sql = match project {
            Some(_) => {
                format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE project = $1 ORDER BY name")
            }
            None => format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"),
        };
        let mut q = sqlx::query(&sql);
        if let Some(p) = project {
            q = q.bind(p);
        }
        q.fetch_all(self.meta.reader())
            .await?
            .into_iter()
            .map(account)
            .collect()
    }

    /// Inserts an account; with `replace`, an existing one of the same name is overwritten.
    /// Returns whether anything was written.
    pub async fn put_account(&self, a: &Account, replace: bool) -> Result<bool> {
        let conflict = if replace {
            "ON CONFLICT (name) DO UPDATE SET kind = $2, password_hash = $3, admin = $4, \
             disabled = $5, project = $6, permissions = $7, expires_ms = $8, description = $9"
        } else {
            "ON CONFLICT (name) DO NOTHING"
        };
        let sql = format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10) {conflict}"
        );
        let mut tx = self.meta.begin().await?;
        let done = sqlx::query(&sql)
            .bind(&a.name)
            .bind(a.kind.as_str())
            .bind(&a.password_hash)
            .bind(i64::from(a.admin))
            .bind(i64::from(a.disabled))
            .bind(a.project.as_deref())
            .bind(a.permissions.as_deref())
            .bind(a.expires_ms)
            .bind(&a.description)
            .bind(a.created_ms)
            .execute(&mut *tx)
            .await?;
        if replace {
            end_console_sessions(&mut tx, &a.name).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets an account's password; its console sessions end with the old one.
    pub async fn set_password_hash(&self, name: &str, hash: &str) -> Result<bool> {
        let mut tx = self.meta.begin().await?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE name = $1")
            .bind(name)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        end_console_sessions(&mut tx, name).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an account and ends its console sessions (an account made later under the
    /// same name must not inherit them).
    pub async fn delete_account(&self, name: &str) -> Result<bool> {
        let mut tx = self.meta.begin().await?;
        let done = sqlx::query("DELETE FROM accounts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        end_console_sessions(&mut tx, name).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn count_accounts(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(self.meta.reader())
            .await?;
        Ok(to_u64(n))
    }

    pub async fn project(&self, name: &str) -> Result<Option<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(self.meta.reader())
            .await?;
        row.map(project).transpose()
    }

    pub async fn projects(&self) -> Result<Vec<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY name");
        sqlx::query(&sql)
            .fetch_all(self.meta.reader())
            .await?
            .into_iter()
            .map(project)
            .collect()
    }

    /// Creates a project; `false` if one of that name exists.
    pub async fn create_project(&self, p: &Project) -> Result<bool> {
        let sql = format!(
            "INSERT INTO projects ({PROJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (name) DO NOTHING"
        );
        let done = sqlx::query(&sql)
            .bind(&p.name)
            .bind(i64::from(p.public))
            .bind(opt_i64(p.quota_bytes))
            .bind(opt_i64(p.quota_artifacts))
            .bind(&p.immutable_rules)
            .bind(p.retention.as_deref())
            .bind(p.created_ms)
            .execute(self.meta.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Replaces a project's settings and policies; `false` if it does not exist.
    pub async fn update_project(&self, p: &Project) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE projects SET public = $2, quota_bytes = $3, quota_artifacts = $4, \
             immutable_rules = $5, retention = $6 WHERE name = $1",
        )
        .bind(&p.name)
        .bind(i64::from(p.public))
        .bind(opt_i64(p.quota_bytes))
        .bind(opt_i64(p.quota_artifacts))
        .bind(&p.immutable_rules)
        .bind(p.retention.as_deref())
        .execute(self.meta.writer())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a project with its members, robots and webhooks (its repositories stay).
    pub async fn delete_project(&self, name: &str) -> Result<bool> {
        let mut tx = self.meta.begin().await?;
        for sql in [
            "DELETE FROM members WHERE project = $1",
            "DELETE FROM webhooks WHERE project = $1",
            "DELETE FROM accounts WHERE kind = 'robot' AND project = $1",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM projects WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn member_role(&self, project: &str, account: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT role FROM members WHERE project = $1 AND account = $2")
                .bind(project)
                .bind(account)
                .fetch_optional(self.meta.reader())
                .await?,
        )
    }

    /// `(account, role)` of a project's members.
    pub async fn members(&self, project: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT account, role FROM members WHERE project = $1 ORDER BY account")
                .bind(project)
                .fetch_all(self.meta.reader())
                .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Projects `account` is a member of, with the role.
    pub async fn memberships(&self, account: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT project, role FROM members WHERE account = $1 ORDER BY project")
                .bind(account)
                .fetch_all(self.meta.reader())
                .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn set_member(&self, project: &str, account: &str, role: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO members (project, account, role) VALUES ($1, $2, $3) \
             ON CONFLICT (project, account) DO UPDATE SET role = $3",
        )
        .bind(project)
        .bind(account)
        .bind(role)
        .execute(self.meta.writer())
        .await?;
        Ok(())
    }

    pub async fn remove_member(&self, project: &str, account: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM members WHERE project = $1 AND account = $2")
            .bind(project)
            .bind(account)
            .execute(self.meta.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `(kid, pkcs8 hex)` of the token-signing keys, oldest first.
    pub async fn token_keys(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT kid, pkcs8 FROM token_keys ORDER BY created_ms, kid")
            .fetch_all(self.meta.writer())
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Adds a token-signing key unless one of that id exists.
    pub async fn add_token_key(&self, kid: &str, pkcs8_hex: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO token_keys (kid, pkcs8, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (kid) DO NOTHING",
        )
        .bind(kid)
        .bind(pkcs8_hex)
        .bind(self.now_ms())
        .execute(self.meta.writer())
        .await?;
        Ok(())
    }

    /// Names of the repositories of `project` (`project` itself and `project/...`).
    pub async fn project_repositories(&self, project: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories WHERE name = $1 \
             OR substr(name, 1, length($1) + 1) = $1 || '/' ORDER BY name",
        )
        .bind(project)
        .fetch_all(self.meta.reader())
        .await?)
    }

    /// Whether the metadata database answers (for readiness probes).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.meta.reader()).await?;
        Ok(())
    }
}

/// A tagged manifest as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    pub digest: String,
    pub pushed_ms: i64,
    pub tags: Vec<String>,
    /// Artifact types of the manifests in the repository whose subject it is.
    pub referrer_types: Vec<String>,
    /// A cosign signature tag (`sha256-<hex>.sig`) exists for it.
    pub cosign_signature: bool,
}

impl Store {
    /// The tagged manifests of a repository with their tags and referrers.
    pub async fn tagged_artifacts(&self, repo: &str) -> Result<Vec<ArtifactRow>> {
        let Some(id) = self.meta.repo_id(repo).await? else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT m.digest, m.created_ms, t.name FROM manifests m JOIN tags t \
             ON t.repo_id = m.repo_id AND t.digest = m.digest WHERE m.repo_id = $1 \
             ORDER BY m.digest, t.name",
        )
        .bind(id)
        .fetch_all(self.meta.reader())
        .await?;
        let mut out: Vec<ArtifactRow> = Vec::new();
        for r in rows {
            let digest: String = r.try_get(0)?;
            let tag: String = r.try_get(2)?;
            match out.last_mut() {
                Some(a) if a.digest == digest => a.tags.push(tag),
                _ => out.push(ArtifactRow {
                    digest,
                    pushed_ms: r.try_get(1)?,
                    tags: vec![tag],
                    referrer_types: Vec::new(),
                    cosign_signature: false,
                }),
            }
        }
        let referrers = sqlx::query(
            "SELECT subject, artifact_type FROM manifests WHERE repo_id = $1 \
             AND subject IS NOT NULL",
        )
        .bind(id)
        .fetch_all(self.meta.reader())
        .await?;
        let all_tags: Vec<String> = sqlx::query_scalar("SELECT name FROM tags WHERE repo_id = $1")
            .bind(id)
            .fetch_all(self.meta.reader())
            .await?;
        for a in &mut out {
            for r in &referrers {
                let subject: String = r.try_get(0)?;
                if subject == a.digest
                    && let Some(t) = r.try_get::<Option<String>, _>(1)?
                {
                    a.referrer_types.push(t);
                }
            }
            let sig = format!("{}.sig", a.digest.replacen(':', "-", 1));
            a.cosign_signature = all_tags.contains(&sig);
        }
        Ok(out)
    }

    /// Deletes a manifest by digest with its tags (retention; the caller checked policy).
    /// `false` when it is gone already or an index of the repository lists it (it stays).
    pub async fn delete_manifest_row(&self, repo: &str, digest: &str) -> Result<bool> {
        let Some(id) = self.meta.repo_id(repo).await? else {
            return Ok(false);
        };
        let done = self.meta.delete_manifest(id, digest).await?;
        self.cache.invalidate_repo(id);
        Ok(done == crate::meta::Removal::Done)
    }
}

/// Ends every console session of `account`: after its password changed, it was replaced,
/// disabled or deleted, a browser that logged in before must log in again (review finding:
/// the attacker's session outlived the reset of a compromised account).
async fn end_console_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: &str,
) -> Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE account = $1")
        .bind(account)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
