//! The one place zoll loads a PKCS#11 module and logs in to a token; signing (`zoll-trust`)
//! and layer decryption (`zoll-crypt`) both go through it.
//!
//! Two process-wide facts of PKCS#11 shape it. `C_Initialize` and `C_Finalize` act on the
//! whole process, so a module is initialized once and never finalized (finalizing a module
//! another part of the process still uses would pull its sessions away). And the login
//! state belongs to the application, not to the session: while any session of this process
//! is logged in to a token, every other session is too, and `C_Login` answers
//! `CKR_USER_ALREADY_LOGGED_IN` without looking at the PIN. Taking that answer as success
//! let a key opened with a wrong PIN work whenever another key on the same token was open,
//! so [`login`] remembers a hash of the PIN the token accepted and compares against it.
//!
//! It also owns the one reading of `pkcs11:` URIs ([`Uri`], RFC 7512) and the lookups from a
//! URI to a slot, a session and a key ([`find_slot`], [`open_session`], [`find_key`],
//! [`rsa_public_components`]), so that both crates pick the same key from the same URI.

#![forbid(unsafe_code)]

mod error;
mod find;
mod pin;
mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::digest;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

pub use error::Error;
pub use find::{ec_public_components, find_key, find_slot, open_session, rsa_public_components};
pub use pin::PinSource;
pub use uri::{ObjectType, Uri, redact};

/// Where `module-name=` is looked for, in this order: Debian's multiarch SoftHSM and
/// p11-kit directories first, then the usual others. Fixed, so a URI can name a module
/// but not choose a file.
fn module_dirs() -> Vec<PathBuf> {
    let arch = std::env::consts::ARCH;
    [
        format!("/usr/lib/{arch}-linux-gnu/softhsm"),
        format!("/usr/lib/{arch}-linux-gnu/pkcs11"),
        format!("/usr/lib/{arch}-linux-gnu"),
        "/usr/lib/softhsm".to_owned(),
        "/usr/lib64/pkcs11".to_owned(),
        "/usr/lib/pkcs11".to_owned(),
        "/usr/local/lib/pkcs11".to_owned(),
        "/usr/local/lib/softhsm".to_owned(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// The module file, as the key identifying it in this process: two spellings of one file
/// (a symlink, `module-name=` and `module-path=`) are one module with one login state.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The module at `path`, loaded and initialized on first use, shared afterwards.
pub fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let key = canonical(path);
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = modules.get(&key) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(&key).map_err(|e| Error::Load {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => {
            return Err(Error::Call {
                function: "C_Initialize",
                error,
            });
        }
    }
    modules.insert(key, ctx.clone());
    Ok(ctx)
}

/// Logs `session` (opened on `slot` of the module at `module_path`) in as the user with
/// `pin`. When the token is logged in already, `pin` must be the PIN that logged it in
/// (compared in constant time with a SHA-256 of it kept here; the PIN itself is not kept).
/// Logins are serialized, so a login and the record of its PIN cannot be split.
pub fn login(module_path: &Path, slot: Slot, session: &Session, pin: &str) -> Result<(), Error> {
    static ACCEPTED: OnceLock<Mutex<HashMap<(PathBuf, u64), digest::Digest>>> = OnceLock::new();
    let mut accepted = ACCEPTED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let token = (canonical(module_path), slot.id());
    let hash = digest::digest(&digest::SHA256, pin.as_bytes());
    match session.login(UserType::User, Some(&AuthPin::from(pin))) {
        Ok(()) => {
            accepted.insert(token, hash);
            Ok(())
        }
        Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => match accepted.get(&token) {
            Some(known) if zoll_stdx::ct::eq(known.as_ref(), hash.as_ref()) => Ok(()),
            // No record: logged in by a path that bypassed this function; the PIN cannot
            // be checked, so it is not taken.
            _ => Err(Error::PinDiffers),
        },
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::PinIncorrect),
        Err(error) => Err(Error::Call {
            function: "C_Login",
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::object::ObjectClass;
    use zoll_testkit::{SOFTHSM_MODULE, SOFTHSM_PIN, SOFTHSM_TOKEN, softhsm_key, softhsm_token};

    /// Login state is the process's and lasts while any session is open, so the tests that
    /// open sessions on the token take turns.
    fn token_turn() -> std::sync::MutexGuard<'static, ()> {
        static TURN: Mutex<()> = Mutex::new(());
        TURN.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn token_slot(ctx: &Pkcs11) -> Slot {
        ctx.get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label().trim() == SOFTHSM_TOKEN)
            .expect("the test token")
    }

    /// The attack: while one session holds the token logged in, a login with a wrong PIN
    /// must fail (the token itself would say "already logged in" and accept anything).
    #[test]
    fn a_wrong_pin_fails_while_the_token_is_logged_in() {
        let _turn = token_turn();
        softhsm_token();
        let path = Path::new(SOFTHSM_MODULE);
        let ctx = module(path).unwrap();
        let slot = token_slot(&ctx);
        let held = ctx.open_ro_session(slot).unwrap();
        login(path, slot, &held, SOFTHSM_PIN).unwrap();

        let other = ctx.open_ro_session(slot).unwrap();
        assert!(matches!(
            login(path, slot, &other, "0000"),
            Err(Error::PinDiffers)
        ));
        assert!(matches!(
            login(path, slot, &other, ""),
            Err(Error::PinDiffers)
        ));
        // The right PIN still works on the logged-in token, through another spelling of
        // the module's path too.
        login(path, slot, &other, SOFTHSM_PIN).unwrap();
        let spelled = PathBuf::from("/usr/lib/softhsm/../softhsm/libsofthsm2.so");
        assert_eq!(canonical(&spelled), canonical(path));
        login(&spelled, slot, &other, SOFTHSM_PIN).unwrap();
        assert!(module(&spelled).is_ok());

        // Once every session is closed the token is logged out, and the token itself
        // judges the next PIN again.
        drop(other);
        drop(held);
        let fresh = ctx.open_ro_session(slot).unwrap();
        assert!(matches!(
            login(path, slot, &fresh, "0000"),
            Err(Error::PinIncorrect)
        ));
        login(path, slot, &fresh, SOFTHSM_PIN).unwrap();
    }

    #[test]
    fn a_missing_module_is_a_load_error() {
        let err = module(Path::new("/nonexistent/libnothing.so")).unwrap_err();
        assert!(matches!(err, Error::Load { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/libnothing.so"));
    }

    #[test]
    fn a_uri_finds_its_token_and_key_and_nothing_else() {
        let _turn = token_turn();
        let uri = Uri::parse(&softhsm_key("rsa2048")).unwrap();
        let module = uri.module().unwrap().unwrap();
        let session = open_session(&uri, &module, None).unwrap();
        let public = find_key(&session, &uri, ObjectClass::PUBLIC_KEY).unwrap();
        let (n, e) = rsa_public_components(&session, public).unwrap();
        assert_eq!((n.len(), e.as_slice()), (256, &[1u8, 0, 1][..]));
        // The same key by id (testkit's "03"), and by both.
        let m = SOFTHSM_MODULE;
        for text in [
            format!("pkcs11:token={SOFTHSM_TOKEN};id=%03?module-path={m}"),
            format!("pkcs11:token={SOFTHSM_TOKEN};object=rsa2048;id=%03?module-path={m}"),
        ] {
            let by_id = Uri::parse(&text).unwrap();
            assert_eq!(
                find_key(&session, &by_id, ObjectClass::PUBLIC_KEY).unwrap(),
                public
            );
        }
        // Private keys are hidden before login, and the message says why.
        let err = find_key(&session, &uri, ObjectClass::PRIVATE_KEY).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
        assert!(err.to_string().contains("no private key"), "{err}");
        assert!(err.to_string().contains("PIN"), "{err}");
        assert!(!err.to_string().contains(SOFTHSM_PIN), "{err}");
        // An EC key has no modulus, an RSA key no EC point.
        let ec = Uri::parse(&softhsm_key("ec256")).unwrap();
        let ec_public = find_key(&session, &ec, ObjectClass::PUBLIC_KEY).unwrap();
        assert!(matches!(
            rsa_public_components(&session, ec_public),
            Err(Error::WrongKeyType(_))
        ));
        let (params, point) = ec_public_components(&session, ec_public).unwrap();
        // The prime256v1 OID, and an uncompressed point of 65 bytes in an OCTET STRING.
        assert_eq!(params, [6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7]);
        assert_eq!(point.len(), 67);
        assert!(matches!(
            ec_public_components(&session, public),
            Err(Error::WrongKeyType(_))
        ));
        // Several objects match: refused, not the first one taken.
        let wide = Uri {
            token: Some(SOFTHSM_TOKEN.into()),
            ..Uri::blank(String::new())
        };
        let err = find_key(&session, &wide, ObjectClass::PUBLIC_KEY).unwrap_err();
        assert!(matches!(err, Error::Ambiguous(_)), "{err:?}");
        let no_key = Uri::parse(&format!("pkcs11:token={SOFTHSM_TOKEN};object=nope")).unwrap();
        assert!(matches!(
            find_key(&session, &no_key, ObjectClass::PUBLIC_KEY),
            Err(Error::NotFound(_))
        ));

        // Tokens: every attribute given must match, and one token only. SoftHSM always
        // has a free slot with an uninitialized token beside the test token.
        let ctx = crate::module(&module).unwrap();
        let slot = find_slot(&ctx, &uri).unwrap();
        let id = slot.id();
        let t = SOFTHSM_TOKEN;
        for (text, found) in [
            (
                format!("pkcs11:token={t};slot-id={id};object=k"),
                Some(true),
            ),
            (
                format!("pkcs11:token={t};model=SoftHSM%20v2;object=k"),
                Some(true),
            ),
            (
                format!("pkcs11:token={t};library-manufacturer=SoftHSM;object=k"),
                Some(true),
            ),
            (
                "pkcs11:token=no-such-token;object=k".to_owned(),
                Some(false),
            ),
            (
                format!("pkcs11:token={t};slot-id={};object=k", id + 1),
                Some(false),
            ),
            (format!("pkcs11:token={t};serial=0;object=k"), Some(false)),
            (
                format!("pkcs11:token={t};library-manufacturer=Other;object=k"),
                Some(false),
            ),
            (
                format!("pkcs11:token={t};library-version=99.1;object=k"),
                Some(false),
            ),
            ("pkcs11:model=SoftHSM%20v2;object=k".to_owned(), None),
        ] {
            let result = find_slot(&ctx, &Uri::parse(&text).unwrap());
            match (result, found) {
                (Ok(s), Some(true)) => assert_eq!(s.id(), id, "{text}"),
                (Err(Error::NotFound(_)), Some(false)) | (Err(Error::Ambiguous(_)), None) => {}
                (other, _) => panic!("{text}: {other:?}"),
            }
        }
    }
}
