//! The quorum proof, through the real Router of a real zoll over a real store, driven by the
//! API client `zoll sign --remote` / `zoll approve` use: a 2-of-3 key held in SoftHSM with
//! a timelock signs nothing on one approval; a replayed approval (a valid signature over
//! another request), a forged one and a decision swapped from reject to approve are refused;
//! two valid approvals before the timelock do not sign yet, after it they do; an expired
//! request never signs; a rejection ends a request; a moved tag ends one. The signature is
//! verified by openssl (an independent verifier) with the token's public key, and counts as
//! the stage it names for the policy engine. Approver votes come from openssl, a file key
//! and a key on the token.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use zoll_approval::client::ApprovalsClient;
use zoll_approval::request::{message, sign_vote};
use zoll_approval::{APPROVE, QuorumKeys, REJECT};
use zoll_client::{ClientConfig, Credentials, ImageRef, Repository};
use zoll_oci::{Descriptor, Manifest, Reference, Tag};
use zoll_stdx::time::{Clock, ManualClock};
use zoll_testkit::{
    TEST_ADMIN_PASSWORD, TarEntry, TestImage, TestServer, require_peer, softhsm_key,
};
use zoll_trust::cosign::simple_signing;
use zoll_trust::keys::{KeyKind, KeySource, generate_key, open_key};

/// Timelock of the 2-of-3 key. The server's clock is the test's (`ManualClock`): it moves
/// only when the test moves it, so an hour costs nothing and a slow machine changes nothing.
const TIMELOCK_SECS: u64 = 3600;

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// An approver vote made by openssl with `key` (a PEM private key file in `dir`).
fn openssl_vote(dir: &Path, key: &str, decision: &str, canonical: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("vote.msg"), message(decision, canonical)).unwrap();
    let (ok, out) = openssl(
        dir,
        &[
            "dgst", "-sha256", "-sign", key, "-out", "vote.sig", "vote.msg",
        ],
    );
    assert!(ok, "{out}");
    std::fs::read(dir.join("vote.sig")).unwrap()
}

struct World {
    dir: tempfile::TempDir,
    server: TestServer,
    /// The administrator's client (who asks for signatures here).
    api: ApprovalsClient,
    /// The approvers' accounts' clients, by account.
    accounts: std::collections::BTreeMap<&'static str, ApprovalsClient>,
    repo: Repository,
    /// The quorum key's public half (on the token).
    quorum_pub: String,
    bob: Box<dyn KeySource>,
    carol: Box<dyn KeySource>,
    /// The server's clock for timelocks and expiry.
    clock: Arc<ManualClock>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl World {
    async fn new() -> World {
        require_peer("openssl");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // alice: an openssl key; bob: a zoll file key; carol: a key on the token.
        for name in ["alice", "mallory"] {
            let key = format!("{name}.key");
            let curve = "ec_paramgen_curve:P-256";
            let (ok, out) = openssl(
                d,
                &[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    curve,
                    "-out",
                    &key,
                ],
            );
            assert!(ok, "{out}");
        }
        let (ok, out) = openssl(
            d,
            &["pkey", "-in", "alice.key", "-pubout", "-out", "alice.pub"],
        );
        assert!(ok, "{out}");
        let bob = generate_key(KeyKind::EcP256).unwrap().key;
        std::fs::write(d.join("bob.pub"), bob.public_key().to_pem()).unwrap();
        let short = generate_key(KeyKind::EcP256).unwrap();
        std::fs::write(d.join("short.key"), short.private_pem.as_bytes()).unwrap();
        let quorum_uri = softhsm_key("quorum");
        let carol_uri = softhsm_key("approver");
        let quorum_pub = open_key(&quorum_uri).unwrap().public_key().to_pem();
        let approvers = format!(
            r#"approvers = [
  {{ name = "alice", key = "alice.pub" }},
  {{ name = "bob", key = "bob.pub" }},
  {{ name = "carol", key = "{carol_uri}", account = "carol.ops" }},
]"#
        );
        let config = format!(
            r#"version = 1
[[key]]
name = "prod-release"
key = "{quorum_uri}"
format = "cosign-legacy"
quorum = 2
timelock_secs = {TIMELOCK_SECS}
expiry_secs = 7200
repositories = ["prod/**"]
{approvers}
[[key]]
name = "short-lived"
key = "short.key"
format = "cosign-legacy"
quorum = 2
expiry_secs = 2
repositories = ["prod/**"]
{approvers}
"#
        );
        std::fs::write(d.join("approvals.toml"), config).unwrap();
        let keys = QuorumKeys::load(&d.join("approvals.toml")).unwrap();
        let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
        let server = TestServer::start_with_app(|app| {
            zoll_registry::approvals::enable_with_clock(app, keys, clock.clone())
        })
        .await;
        let ticker = tokio::spawn(zoll_registry::approvals::run(
            server.app.clone(),
            Duration::from_millis(200),
        ));
        let creds = ("admin".to_owned(), TEST_ADMIN_PASSWORD.to_owned());
        let api = ApprovalsClient::new(&server.addr, Some(creds), None).unwrap();
        // The approvers' accounts (carol's key is bound to `carol.ops`), each a guest of the
        // project: votes need to read the request; mallory is no approver.
        let project = zoll_store::Project::new("prod", false);
        assert!(server.store.create_project(&project).await.unwrap());
        let mut accounts = std::collections::BTreeMap::new();
        for name in ["alice", "bob", "carol.ops", "mallory"] {
            let hash = zoll_registry::auth::password::hash(&format!("{name}-password"));
            let account = zoll_store::Account::user(name, hash, false);
            assert!(server.store.put_account(&account, false).await.unwrap());
            server
                .store
                .set_member("prod", name, "guest")
                .await
                .unwrap();
            let creds = (name.to_owned(), format!("{name}-password"));
            let client = ApprovalsClient::new(&server.addr, Some(creds), None).unwrap();
            accounts.insert(name, client);
        }
        let image: ImageRef = format!("{}/prod/app", server.addr).parse().unwrap();
        let repo = Repository::open(&image, &client_config()).unwrap();
        World {
            dir,
            server,
            api,
            accounts,
            repo,
            quorum_pub,
            bob: Box::new(bob),
            carol: open_key(&carol_uri).unwrap(),
            clock,
            ticker,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The API as the account `name` (an approver's or mallory's).
    fn by(&self, name: &str) -> &ApprovalsClient {
        &self.accounts[name]
    }

    async fn push(&self, tag: &str, content: &str) -> Descriptor {
        TestImage::new()
            .layer(&[TarEntry::file("etc/id", content.as_bytes().to_vec())])
            .push(&self.repo, Some(tag))
            .await
    }

    /// A request for `key` to sign `prod/app:tag` as stage `release`: (id, canonical bytes).
    async fn request(&self, key: &str, tag: &str) -> (String, Vec<u8>) {
        let claims = [("stage".to_owned(), "release".to_owned())].into();
        let v = self
            .api
            .request(key, &self.server.addr, "prod/app", tag, &claims)
            .await
            .unwrap();
        assert_eq!(v["state"], "pending", "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        let (canonical, bytes) = self.api.canonical(&id).await.unwrap();
        assert_eq!(canonical.id, id);
        assert_eq!(canonical.repository, "prod/app");
        assert_eq!(canonical.registry, self.server.addr);
        assert_eq!(canonical.claims["stage"], "release");
        (id, bytes)
    }

    async fn state(&self, id: &str) -> String {
        let v = self.api.get(id).await.unwrap();
        v["state"].as_str().unwrap().to_owned()
    }

    /// Moves the server's clock by `by`, then lets the approvals do what is due (as the
    /// background tick would).
    async fn pass(&self, by: Duration) {
        self.clock.advance(by);
        self.tick().await;
    }

    async fn tick(&self) {
        let approvals = self.server.app.approvals.as_ref().expect("enabled");
        approvals.tick().await.unwrap();
    }

    async fn wait_for(&self, id: &str, state: &str, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self.api.get(id).await.unwrap();
            if v["state"] == state {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "request {id} did not become {state} within {within:?}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's `/metrics` page, read as the administrator.
    async fn metrics(&self) -> String {
        let r = reqwest::Client::new()
            .get(format!("http://{}/metrics", self.server.addr))
            .basic_auth("admin", Some(TEST_ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// The cosign `.sig` manifest of `subject`, if any.
    async fn signature(&self, subject: &Descriptor) -> Option<Manifest> {
        let tag = Tag::parse(&simple_signing::signature_tag(&subject.digest)).unwrap();
        match self.repo.fetch_manifest(&Reference::Tag(tag)).await {
            Ok((_, bytes)) => Some(Manifest::parse(&bytes, None).unwrap()),
            Err(zoll_client::ClientError::NotFound(_)) => None,
            Err(e) => panic!("{e}"),
        }
    }
}

fn client_config() -> ClientConfig {
    ClientConfig {
        credentials: Some(Credentials {
            username: "admin".into(),
            password: TEST_ADMIN_PASSWORD.into(),
        }),
        ..ClientConfig::default()
    }
}

/// The API's status code for a refused call.
fn status(r: Result<Value, zoll_approval::ApprovalError>) -> String {
    match r {
        Ok(v) => panic!("accepted: {v}"),
        Err(zoll_approval::ApprovalError::Api(msg)) => msg,
        Err(e) => panic!("not an API refusal: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_with_timelock_signs_once_and_openssl_verifies() {
    let w = World::new().await;
    let v1 = w.push("v1", "one").await;
    let v2 = w.push("v2", "two").await;
    let (a, a_bytes) = w.request("prod-release", "v1").await;
    let (b, b_bytes) = w.request("prod-release", "v2").await;

    // One approval (alice, by openssl) does not sign.
    let alice_a = openssl_vote(w.path(), "alice.key", APPROVE, &a_bytes);
    let v = w.by("alice").vote(&a, APPROVE, &alice_a).await.unwrap();
    assert_eq!(v["state"], "pending", "{v}");
    assert_eq!(v["votes"][0]["approver"], "alice", "{v}");

    // A replay: bob's valid approval of request B is refused on A ...
    let bob_b = sign_vote(w.bob.as_ref(), APPROVE, &b_bytes).unwrap();
    let refused = status(w.by("bob").vote(&a, APPROVE, &bob_b).await);
    assert!(refused.starts_with("403"), "{refused}");
    // ... and is a good signature where it belongs.
    let v = w.by("bob").vote(&b, APPROVE, &bob_b).await.unwrap();
    assert_eq!(v["state"], "pending", "{v}");
    // A forgery: mallory (no approver) signs A's exact bytes; garbage; a rejection sent
    // as an approval.
    let mallory = openssl_vote(w.path(), "mallory.key", APPROVE, &a_bytes);
    assert!(status(w.by("mallory").vote(&a, APPROVE, &mallory).await).starts_with("403"));
    assert!(
        status(
            w.by("mallory")
                .vote(&a, APPROVE, &[0x30, 0x06, 1, 2, 3])
                .await
        )
        .starts_with("403")
    );
    let bob_reject_a = sign_vote(w.bob.as_ref(), REJECT, &a_bytes).unwrap();
    assert!(status(w.by("bob").vote(&a, APPROVE, &bob_reject_a).await).starts_with("403"));
    // alice cannot vote twice.
    assert!(status(w.by("alice").vote(&a, APPROVE, &alice_a).await).starts_with("409"));
    assert_eq!(w.state(&a).await, "pending");

    // The second valid approval (carol, on the token) reaches quorum before the timelock:
    // approved, not signed.
    let carol_a = sign_vote(w.carol.as_ref(), APPROVE, &a_bytes).unwrap();
    let v = w.by("carol.ops").vote(&a, APPROVE, &carol_a).await.unwrap();
    assert_eq!(v["state"], "approved", "{v}");
    // A minute short of the timelock, a tick leaves it approved.
    w.pass(Duration::from_secs(TIMELOCK_SECS - 60)).await;
    assert_eq!(w.state(&a).await, "approved");
    assert!(
        w.signature(&v1).await.is_none(),
        "signed before the timelock"
    );

    // A rejection (carol) ends B; a later approval is refused; B never signs.
    let carol_b = sign_vote(w.carol.as_ref(), REJECT, &b_bytes).unwrap();
    let v = w.by("carol.ops").vote(&b, REJECT, &carol_b).await.unwrap();
    assert_eq!(v["state"], "rejected", "{v}");
    let alice_b = openssl_vote(w.path(), "alice.key", APPROVE, &b_bytes);
    assert!(status(w.by("alice").vote(&b, APPROVE, &alice_b).await).starts_with("409"));

    // After the timelock the server signs A, once.
    w.pass(Duration::from_secs(60)).await;
    let v = w.wait_for(&a, "signed", Duration::from_secs(20)).await;
    assert!(
        w.clock.now_ms() >= v["not_before_ms"].as_i64().unwrap(),
        "signed before the timelock: {v}"
    );
    let audit = w.server.store.audit_records(0, 10_000).await.unwrap();
    let signings = audit
        .iter()
        .filter(|r| r.entry.action == "approval.signed")
        .count();
    assert_eq!(signings, 1, "the signing is audited, once");
    let sig = w.signature(&v1).await.expect("the .sig tag exists");
    assert_eq!(sig.layers.len(), 1, "signed exactly once");
    assert_eq!(
        v["outcome"].as_str().unwrap(),
        w.repo
            .resolve(Some(&Reference::Tag(
                Tag::parse(&simple_signing::signature_tag(&v1.digest)).unwrap()
            )))
            .await
            .unwrap()
            .digest
            .as_str()
    );
    assert!(
        w.signature(&v2).await.is_none(),
        "a rejected request signed"
    );

    // openssl verifies the signature with the token's public key; a tampered payload fails.
    let layer = &sig.layers[0];
    let payload = w.repo.fetch_blob_bytes(layer, 1 << 20).await.unwrap();
    let text = String::from_utf8(payload.to_vec()).unwrap();
    assert!(text.contains(v1.digest.as_str()), "{text}");
    assert!(text.contains(r#""stage":"release""#), "{text}");
    assert!(
        text.contains(&format!("{}/prod/app", w.server.addr)),
        "{text}"
    );
    let sig_b64 = &layer.annotations.as_ref().unwrap()[simple_signing::SIGNATURE_ANNOTATION];
    let d = w.path();
    std::fs::write(d.join("payload.json"), &payload).unwrap();
    std::fs::write(d.join("tampered.json"), text.replace("release", "relea5e")).unwrap();
    std::fs::write(
        d.join("sig.der"),
        zoll_stdx::base64::decode(sig_b64).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("quorum.pub"), &w.quorum_pub).unwrap();
    let verify = |file: &str| {
        openssl(
            d,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "quorum.pub",
                "-signature",
                "sig.der",
                file,
            ],
        )
    };
    let (ok, out) = verify("payload.json");
    assert!(ok && out.contains("Verified OK"), "{out}");
    assert!(
        !verify("tampered.json").0,
        "openssl accepted a tampered payload"
    );

    // The signature is the stage `release` for the policy engine (the quorum key's identity).
    let policy = d.join("policy.toml");
    std::fs::write(
        &policy,
        r#"version = 1
[identities.release]
keys = ["quorum.pub"]
[stages.release]
identities = ["release"]
[[policy]]
name = "production"
repositories = ["prod/**"]
stages = ["release"]
"#,
    )
    .unwrap();
    let engine = zoll_policy::Engine::new(zoll_policy::PolicySet::load(&policy).unwrap());
    let source = zoll_policy::ClientSource::new(client_config());
    let decide = |subject| {
        let target = zoll_policy::Target {
            gate: zoll_policy::Gate::Pull,
            registry: &w.server.addr,
            repository: "prod/app",
            subject,
        };
        engine.decide(target, &source)
    };
    let d1 = decide(&v1).await.unwrap();
    assert!(d1.allowed, "{}", d1.explain());
    let d2 = decide(&v2).await.unwrap();
    assert!(!d2.allowed, "{}", d2.explain());

    // Every step is in the audit trail.
    let audit = w.server.store.audit_records(0, 10_000).await.unwrap();
    let count = |action: &str, outcome: &str| {
        audit
            .iter()
            .filter(|r| r.entry.action == action && r.entry.outcome == outcome)
            .count()
    };
    assert_eq!(count("approval.requested", "ok"), 2);
    assert_eq!(count("approval.approved", "ok"), 3); // alice + carol on A, bob on B
    assert_eq!(count("approval.refused", "denied"), 6);
    assert_eq!(count("approval.quorum", "ok"), 1);
    assert_eq!(count("approval.rejected", "ok"), 1);
    assert_eq!(count("approval.signed", "ok"), 1);
    // And counted in the metrics, by event and step (never a request, key or repository).
    let page = w.metrics().await;
    for (event, step, n) in [
        ("requested", "requested", 2),
        ("voted", "approved", 3),
        ("voted", "refused", 6),
        ("granted", "quorum", 1),
        ("ended", "rejected", 1),
        ("signed", "signed", 1),
    ] {
        let series = format!(r#"zoll_approval_events_total{{event="{event}",step="{step}"}} {n}"#);
        assert!(page.lines().any(|l| l == series), "no {series} in\n{page}");
    }
    assert!(
        !page.contains("prod-release") && !page.contains("prod/app"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_withdrawn_and_moved_requests_never_sign() {
    let w = World::new().await;
    let v3 = w.push("v3", "three").await;

    // Expiry: one approval, then the request's 2 seconds run out; a late approval is
    // refused and nothing is signed.
    let (c, c_bytes) = w.request("short-lived", "v3").await;
    let alice = openssl_vote(w.path(), "alice.key", APPROVE, &c_bytes);
    assert_eq!(
        w.by("alice").vote(&c, APPROVE, &alice).await.unwrap()["state"],
        "pending"
    );
    w.pass(Duration::from_secs(3)).await;
    w.wait_for(&c, "expired", Duration::from_secs(10)).await;
    let bob = sign_vote(w.bob.as_ref(), APPROVE, &c_bytes).unwrap();
    assert!(status(w.by("bob").vote(&c, APPROVE, &bob).await).starts_with("409"));
    w.tick().await;
    assert_eq!(w.state(&c).await, "expired");
    assert!(
        w.signature(&v3).await.is_none(),
        "an expired request signed"
    );

    // The requester withdraws a request (no approver key, a reason).
    let (e, _) = w.request("prod-release", "v3").await;
    let v = w.api.withdraw(&e, "wrong build").await.unwrap();
    assert_eq!(v["state"], "rejected", "{v}");
    assert!(
        v["outcome"].as_str().unwrap().contains("wrong build"),
        "{v}"
    );

    // A moved tag ends a request, even one that has its quorum and waits for the timelock.
    let (m, m_bytes) = w.request("prod-release", "v3").await;
    for (account, key) in [("bob", w.bob.as_ref()), ("carol.ops", w.carol.as_ref())] {
        let vote = sign_vote(key, APPROVE, &m_bytes).unwrap();
        w.by(account).vote(&m, APPROVE, &vote).await.unwrap();
    }
    assert_eq!(w.state(&m).await, "approved");
    let moved = w.push("v3", "three, rebuilt").await;
    assert_ne!(moved.digest, v3.digest);
    let v = w.wait_for(&m, "superseded", Duration::from_secs(10)).await;
    assert!(
        v["outcome"]
            .as_str()
            .unwrap()
            .contains(moved.digest.as_str()),
        "{v}"
    );
    w.pass(Duration::from_secs(TIMELOCK_SECS + 1)).await;
    assert_eq!(w.state(&m).await, "superseded");
    assert!(
        w.signature(&v3).await.is_none(),
        "a superseded request signed"
    );
    assert!(
        w.signature(&moved).await.is_none(),
        "the new target was signed"
    );

    // Closed requests are listed with --all only.
    let open = w.api.list(false).await.unwrap();
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
    let all = w.api.list(true).await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");

    // Without valid credentials nothing is listed.
    let stranger = ApprovalsClient::new(
        &w.server.addr,
        Some(("admin".into(), "wrong-password".into())),
        None,
    )
    .unwrap();
    assert!(status(stranger.list(true).await).starts_with("401"));
}

/// Review finding: any pusher could file signing requests without end; the tick (and the
/// list) only saw the newest thousand, so older requests that reached quorum were never
/// signed. One requester may hold ten open requests per key; the tick walks them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_requests_per_requester_and_key_are_bounded() {
    let w = World::new().await;
    w.push("v9", "nine").await;
    for _ in 0..10 {
        w.request("prod-release", "v9").await;
    }
    let claims = [("stage".to_owned(), "release".to_owned())].into();
    let refused = w
        .api
        .request("prod-release", &w.server.addr, "prod/app", "v9", &claims)
        .await;
    assert!(status(refused).starts_with("429"));
}

/// Separation of duties (issue 16): the account that asked for a signature never counts as
/// one of its approvers, even holding an approver's key; the other approvers still can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_cannot_approve_its_own_request() {
    let w = World::new().await;
    w.push("v7", "seven").await;
    // alice may ask for signatures in prod (a developer there).
    w.server
        .store
        .set_member("prod", "alice", "developer")
        .await
        .unwrap();
    let alice_api = w.by("alice");
    let claims = [("stage".to_owned(), "release".to_owned())].into();
    let v = alice_api
        .request("prod-release", &w.server.addr, "prod/app", "v7", &claims)
        .await
        .unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let (_, bytes) = alice_api.canonical(&id).await.unwrap();
    let own = openssl_vote(w.path(), "alice.key", APPROVE, &bytes);
    let refused = status(alice_api.vote(&id, APPROVE, &own).await);
    assert!(
        refused.starts_with("403") && refused.contains("alice asked for request"),
        "{refused}"
    );
    // Not through another account either: the key is alice's, and alice asked.
    assert!(status(w.api.vote(&id, APPROVE, &own).await).starts_with("403"));
    let bob = sign_vote(w.bob.as_ref(), APPROVE, &bytes).unwrap();
    let v = w.by("bob").vote(&id, APPROVE, &bob).await.unwrap();
    assert_eq!(v["votes"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(w.state(&id).await, "pending");
}

/// Approver keys are bound to accounts (issue 16): a vote signed with alice's key counts
/// only when alice's account sends it, carol's only from `carol.ops`, the account her entry
/// names; any other sender is refused with the bound account named, and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approvers_key_counts_only_from_its_bound_account() {
    let w = World::new().await;
    w.push("v8", "eight").await;
    let (id, bytes) = w.request("prod-release", "v8").await;
    let alice = openssl_vote(w.path(), "alice.key", APPROVE, &bytes);
    for sender in ["bob", "mallory"] {
        let refused = status(w.by(sender).vote(&id, APPROVE, &alice).await);
        assert!(
            refused.starts_with("403")
                && refused.contains(&format!(
                    "the key of approver alice, which is bound to the account alice; \
                     {sender} may not send it"
                )),
            "{refused}"
        );
    }
    // The administrator is no exception.
    assert!(status(w.api.vote(&id, APPROVE, &alice).await).starts_with("403"));
    // carol's key is bound to carol.ops, not to an account named like her.
    let carol = sign_vote(w.carol.as_ref(), APPROVE, &bytes).unwrap();
    let refused = status(w.by("alice").vote(&id, APPROVE, &carol).await);
    assert!(
        refused.contains("bound to the account carol.ops"),
        "{refused}"
    );
    assert_eq!(w.state(&id).await, "pending");
    let v = w.api.get(&id).await.unwrap();
    assert_eq!(v["votes"], serde_json::json!([]), "{v}");

    // From the bound accounts they count: quorum.
    let v = w.by("alice").vote(&id, APPROVE, &alice).await.unwrap();
    assert_eq!(v["votes"][0]["approver"], "alice", "{v}");
    let v = w.by("carol.ops").vote(&id, APPROVE, &carol).await.unwrap();
    assert_eq!(v["state"], "approved", "{v}");

    // The requester is compared with the bound account: carol.ops asking cannot approve
    // with carol's key.
    w.server
        .store
        .set_member("prod", "carol.ops", "developer")
        .await
        .unwrap();
    let claims = [("stage".to_owned(), "release".to_owned())].into();
    let own = w
        .by("carol.ops")
        .request("prod-release", &w.server.addr, "prod/app", "v8", &claims)
        .await
        .unwrap();
    let own = own["id"].as_str().unwrap().to_owned();
    let (_, own_bytes) = w.by("carol.ops").canonical(&own).await.unwrap();
    let carol_own = sign_vote(w.carol.as_ref(), APPROVE, &own_bytes).unwrap();
    let refused = status(w.by("carol.ops").vote(&own, APPROVE, &carol_own).await);
    assert!(refused.contains("carol.ops asked for request"), "{refused}");

    let audit = w.server.store.audit_records(0, 10_000).await.unwrap();
    let refused: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action == "approval.refused" && r.entry.outcome == "denied")
        .collect();
    assert_eq!(refused.len(), 5, "{refused:#?}");
    assert!(
        refused
            .iter()
            .any(|r| r.entry.actor == "bob" && r.entry.detail.contains("bound to account alice")),
        "{refused:#?}"
    );
}

/// Review finding: claim values could hold a newline or a terminal escape, which `zoll
/// approve` printed raw in the request approvers confirm — a requester could overwrite the
/// image line they read with another digest. The registry refuses such claims (and a
/// registry name with them), and what an approver reads shows any that come anyway as
/// visible escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_that_could_rewrite_what_approvers_read_are_refused() {
    let w = World::new().await;
    w.push("v6", "six").await;
    for value in [
        "x\u{1b}[4A\u{1b}[2Kimage      prod/app@sha256:0000",
        "release\nimage      prod/app@sha256:0000",
        "release\u{2028}more",
        "\u{202E}esaeler",
        "release\u{85}",
    ] {
        let claims = [("stage".to_owned(), value.to_owned())].into();
        let refused = w
            .api
            .request("prod-release", &w.server.addr, "prod/app", "v6", &claims)
            .await;
        let why = status(refused);
        assert!(
            why.starts_with("400") && why.contains("control"),
            "{value:?}: {why}"
        );
    }
    let claims = [("stage".to_owned(), "release".to_owned())].into();
    let refused = w
        .api
        .request("prod-release", "reg\u{1b}[2K", "prod/app", "v6", &claims)
        .await;
    assert!(status(refused).starts_with("400"));

    // Shown, not obeyed: a request that carries one anyway (an older registry's).
    let (_, canonical) = w.request("prod-release", "v6").await;
    let mut c = zoll_approval::request::Canonical::parse(&canonical).unwrap();
    let plain_lines = c.describe().lines().count();
    c.claims.insert("note".into(), "a\u{1b}[4Ab\nc".into());
    let shown = c.describe();
    assert!(!shown.contains('\u{1b}'), "{shown}");
    assert!(shown.contains("note=a\\u{1b}[4Ab\\u{a}c"), "{shown}");
    assert_eq!(shown.lines().count(), plain_lines, "{shown}");
}
