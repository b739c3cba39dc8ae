//! The one signature-collecting algorithm over both backends: the registry's store (what
//! the pull gate reads) and the HTTP client (admission, `zoll policy`), and its failing
//! closed when a signature that exists cannot be read.

use zoll_policy::{ClientSource, Engine, Gate, PolicyError, SignatureSource, Target};
use zoll_registry::gate::StoreSource;
use zoll_trust::image::SignatureFormat;

use crate::support::{CI_POLICY, JWS, LEGACY, OnManifest, Tampered, World, sign};

#[tokio::test]
async fn the_store_and_http_find_the_same_signatures() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let (repo, img) = w.push("app", "v1").await;
    sign(&repo, &img, &ci, JWS, &[("stage", "ci")]).await;
    sign(&repo, &img, &ci, SignatureFormat::CosignBundle, &[]).await;
    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    let addr = w.server.addr.as_str();
    let store = StoreSource::new(w.server.store.clone());
    let http = ClientSource::new(Default::default());
    let store: &dyn SignatureSource = &store;
    let http: &dyn SignatureSource = &http;

    let by_store = store.index(addr, "app", &img, &[]).await.unwrap();
    let by_http = http.index(addr, "app", &img, &[]).await.unwrap();
    assert_eq!(by_store, by_http);
    assert_eq!(by_store.referrers.len(), 2, "{by_store:?}");
    assert!(by_store.cosign_tag.is_some(), "{by_store:?}");

    let loaded_by_store = store.load(addr, "app", &by_store).await.unwrap();
    let loaded_by_http = http.load(addr, "app", &by_http).await.unwrap();
    // A Notation envelope, a bundle and one simple-signing layer, byte for byte alike.
    assert_eq!(loaded_by_store.len(), 3, "{loaded_by_store:?}");
    assert_eq!(
        format!("{loaded_by_store:?}"),
        format!("{loaded_by_http:?}")
    );
}

#[tokio::test]
async fn a_signature_manifest_that_cannot_be_read_is_an_error_not_no_signature() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let (repo, img) = w.push("app", "v1").await;
    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    let engine = Engine::new(w.policy(CI_POLICY));
    let broken = Tampered::new(ClientSource::new(Default::default()), OnManifest::Fail);
    let target = Target {
        gate: Gate::Admission,
        registry: &w.server.addr,
        repository: "app",
        subject: &img,
    };
    let err = engine.decide(target, &broken).await.unwrap_err();
    assert!(
        matches!(&err, PolicyError::Source { what, reason }
            if what.starts_with("signature manifest sha256:")
                && reason == "input/output error"),
        "{err}"
    );
    // Read as it is, the same signature satisfies the policy.
    assert!(
        w.decide(&engine, Gate::Admission, "app", &img)
            .await
            .allowed
    );
}
