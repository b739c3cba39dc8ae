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

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::digest;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

#[derive(Debug)]
pub enum Error {
    /// The module could not be loaded.
    Load { path: PathBuf, reason: String },
    /// A PKCS#11 function failed.
    Call {
        function: &'static str,
        error: CkError,
    },
    /// The token refused the PIN.
    PinIncorrect,
    /// The token is logged in already, by this process, with a different PIN.
    PinDiffers,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Load { path, reason } => {
                write!(f, "cannot load PKCS#11 module {}: {reason}", path.display())
            }
            Error::Call { function, error } => write!(f, "{function}: {error}"),
            Error::PinIncorrect => f.write_str("the token rejected the PIN"),
            Error::PinDiffers => f.write_str(
                "the token is logged in with another PIN in this process; this key's PIN is wrong",
            ),
        }
    }
}

impl std::error::Error for Error {}

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
            })
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
    use zoll_testkit::{softhsm_token, SOFTHSM_MODULE, SOFTHSM_PIN, SOFTHSM_TOKEN};

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
}
