//! From a URI to a slot, a session and an object. A URI matches a slot when every attribute
//! it gives matches; more than one match is refused rather than guessed, so the key used is
//! never an accident of slot order.

use std::path::Path;

use cryptoki::context::Pkcs11;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use crate::error::call;
use crate::{Error, Uri};

/// Token and slot strings are blank-padded in PKCS#11; the URI spells them without.
fn same(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w == have.trim_end())
}

/// Whether the module itself fits `library-*`.
fn library_matches(ctx: &Pkcs11, uri: &Uri) -> Result<bool, Error> {
    if uri.library_manufacturer.is_none()
        && uri.library_description.is_none()
        && uri.library_version.is_none()
    {
        return Ok(true);
    }
    let info = ctx.get_library_info().map_err(call("C_GetInfo"))?;
    let version = info.library_version();
    Ok(same(&uri.library_manufacturer, info.manufacturer_id())
        && same(&uri.library_description, info.library_description())
        && uri
            .library_version
            .is_none_or(|v| v == (version.major(), version.minor())))
}

fn slot_matches(ctx: &Pkcs11, uri: &Uri, slot: Slot) -> Result<bool, Error> {
    if uri.slot_id.is_some_and(|id| id != slot.id()) {
        return Ok(false);
    }
    if uri.slot_description.is_some() || uri.slot_manufacturer.is_some() {
        let info = ctx.get_slot_info(slot).map_err(call("C_GetSlotInfo"))?;
        if !same(&uri.slot_description, info.slot_description())
            || !same(&uri.slot_manufacturer, info.manufacturer_id())
        {
            return Ok(false);
        }
    }
    let token = ctx.get_token_info(slot).map_err(call("C_GetTokenInfo"))?;
    Ok(same(&uri.token, token.label())
        && same(&uri.manufacturer, token.manufacturer_id())
        && same(&uri.serial, token.serial_number())
        && same(&uri.model, token.model()))
}

/// The one slot with a token that the URI's library, slot and token attributes match.
pub fn find_slot(ctx: &Pkcs11, uri: &Uri) -> Result<Slot, Error> {
    if !library_matches(ctx, uri)? {
        return Err(Error::NotFound(format!(
            "the module does not match the library attributes of {uri}"
        )));
    }
    let mut found = Vec::new();
    for slot in ctx.get_slots_with_token().map_err(call("C_GetSlotList"))? {
        if slot_matches(ctx, uri, slot)? {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::NotFound(format!("no token matches {uri}"))),
        many => Err(Error::Ambiguous(format!(
            "{} tokens match {uri}: add token= or slot-id=",
            many.len()
        ))),
    }
}

/// A read-only session on the URI's token in the module at `module`, logged in with `pin`
/// when one is given (through [`crate::login`], so a wrong PIN is refused even while the
/// token is logged in).
pub fn open_session(uri: &Uri, module: &Path, pin: Option<&str>) -> Result<Session, Error> {
    let ctx = crate::module(module)?;
    let slot = find_slot(&ctx, uri)?;
    let session = ctx.open_ro_session(slot).map_err(call("C_OpenSession"))?;
    if let Some(pin) = pin {
        crate::login(module, slot, &session, pin)?;
    }
    Ok(session)
}

fn class_name(class: ObjectClass) -> &'static str {
    match class {
        ObjectClass::PRIVATE_KEY => "private key",
        ObjectClass::PUBLIC_KEY => "public key",
        ObjectClass::SECRET_KEY => "secret key",
        ObjectClass::CERTIFICATE => "certificate",
        _ => "object",
    }
}

/// The one object of `class` with the URI's label (`object=`) and id (`id=`). The class is
/// the caller's: which half of a key pair an operation needs is not the URI's `type=`.
pub fn find_key(session: &Session, uri: &Uri, class: ObjectClass) -> Result<ObjectHandle, Error> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let found = session
        .find_objects(&template)
        .map_err(call("C_FindObjects"))?;
    let what = class_name(class);
    match found.as_slice() {
        [one] => Ok(*one),
        // Tokens hide private objects from sessions that are not logged in.
        [] if class == ObjectClass::PRIVATE_KEY => Err(Error::NotFound(format!(
            "no {what} matches {uri} (private keys show only after login: is the PIN given, \
             with pin-value= or pin-source=?)"
        ))),
        [] => Err(Error::NotFound(format!("no {what} matches {uri}"))),
        many => Err(Error::Ambiguous(format!(
            "{} {what}s match {uri}: add id= or object=",
            many.len()
        ))),
    }
}

/// Two byte-string attributes of a key, in the order asked for.
pub type AttributePair = (Vec<u8>, Vec<u8>);

/// Two byte-string attributes of `key`; an object that lacks either is not `kind`.
fn attribute_pair(
    session: &Session,
    key: ObjectHandle,
    types: [AttributeType; 2],
    kind: &str,
) -> Result<AttributePair, Error> {
    let attributes = session
        .get_attributes(key, &types)
        .map_err(call("C_GetAttributeValue"))?;
    let mut found = [None, None];
    for attribute in attributes {
        let Some(i) = types.iter().position(|t| *t == attribute.attribute_type()) else {
            continue;
        };
        found[i] = match attribute {
            Attribute::Modulus(v)
            | Attribute::PublicExponent(v)
            | Attribute::EcParams(v)
            | Attribute::EcPoint(v) => Some(v),
            _ => None,
        };
    }
    let [first, second] = found;
    first.zip(second).ok_or_else(|| {
        Error::WrongKeyType(format!(
            "the key is not {kind} (it has no {} and {})",
            types[0], types[1]
        ))
    })
}

/// The RSA modulus and public exponent of `key` (big-endian, as the token stores them).
pub fn rsa_public_components(session: &Session, key: ObjectHandle) -> Result<AttributePair, Error> {
    let types = [AttributeType::Modulus, AttributeType::PublicExponent];
    attribute_pair(session, key, types, "an RSA key")
}

/// The EC domain parameters (DER) and point (`CKA_EC_POINT` as the token gives it: most wrap
/// it in a DER OCTET STRING, some do not) of `key`.
pub fn ec_public_components(session: &Session, key: ObjectHandle) -> Result<AttributePair, Error> {
    attribute_pair(
        session,
        key,
        [AttributeType::EcParams, AttributeType::EcPoint],
        "an EC key",
    )
}
