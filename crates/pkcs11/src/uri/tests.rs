use super::*;

fn parsed(text: &str) -> Uri {
    Uri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn refused(text: &str) -> String {
    match Uri::parse(text) {
        Err(Error::Uri { reason, .. }) => reason,
        Err(other) => panic!("{text}: not a URI error: {other:?}"),
        Ok(uri) => panic!("{text}: accepted as {uri:?}"),
    }
}

#[test]
fn valid_uris() {
    let pin = |p: &str| Some(PinSource::Value(Zeroizing::new(p.to_owned())));
    let table: &[(&str, Uri)] = &[
        // ocicrypt's documented example.
        (
            "pkcs11:token=t;object=k;type=private?pin-value=1234&module-name=softhsm2",
            Uri {
                token: Some("t".into()),
                object: Some("k".into()),
                object_type: Some(ObjectType::Private),
                pin: pin("1234"),
                module_name: Some("softhsm2".into()),
                ..Uri::blank(String::new())
            },
        ),
        // Percent-encoded label, id bytes (upper and lower case hex) and PIN.
        (
            "pkcs11:token=My%20Token;object=sign;id=%01%a2%FF;slot-id=3\
             ?module-path=/usr/lib/x.so&pin-value=12%2634",
            Uri {
                token: Some("My Token".into()),
                object: Some("sign".into()),
                id: Some(vec![0x01, 0xa2, 0xff]),
                slot_id: Some(3),
                module_path: Some("/usr/lib/x.so".into()),
                pin: pin("12&34"),
                ..Uri::blank(String::new())
            },
        ),
        (
            "pkcs11:id=%02;type=public?pin-source=file:/run/pin",
            Uri {
                id: Some(vec![2]),
                object_type: Some(ObjectType::Public),
                pin: Some(PinSource::File("/run/pin".into())),
                ..Uri::blank(String::new())
            },
        ),
        (
            "pkcs11:object=k?pin-source=file:///run/pin",
            Uri {
                object: Some("k".into()),
                pin: Some(PinSource::File("/run/pin".into())),
                ..Uri::blank(String::new())
            },
        ),
        // Every other path attribute of RFC 7512 is read; vendor query attributes and
        // empty separators are passed over.
        (
            "pkcs11:manufacturer=SoftHSM%20project;serial=abc;model=SoftHSM%20v2;\
             library-manufacturer=L;library-description=D;library-version=2.6;\
             slot-description=S;slot-manufacturer=M;object=k;type=cert;;\
             ?x-vendor=1&&x-other=%41",
            Uri {
                manufacturer: Some("SoftHSM project".into()),
                serial: Some("abc".into()),
                model: Some("SoftHSM v2".into()),
                library_manufacturer: Some("L".into()),
                library_description: Some("D".into()),
                library_version: Some((2, 6)),
                slot_description: Some("S".into()),
                slot_manufacturer: Some("M".into()),
                object: Some("k".into()),
                object_type: Some(ObjectType::Cert),
                ..Uri::blank(String::new())
            },
        ),
        (
            "pkcs11:object=a=b;type=secret-key;library-version=3",
            Uri {
                object: Some("a=b".into()),
                object_type: Some(ObjectType::SecretKey),
                library_version: Some((3, 0)),
                ..Uri::blank(String::new())
            },
        ),
        (
            "pkcs11:object=d;type=data",
            Uri {
                object: Some("d".into()),
                object_type: Some(ObjectType::Data),
                ..Uri::blank(String::new())
            },
        ),
    ];
    for (text, want) in table {
        let want = Uri {
            shown: redact(text),
            ..want.clone()
        };
        assert_eq!(parsed(text), want, "{text}");
    }
}

#[test]
fn refusals() {
    let long = "a".repeat(MAX_VALUE + 1);
    let table: &[(&str, &str)] = &[
        ("pkcs:object=a", "must start with \"pkcs11:\""),
        ("pkcs11:token=a", "object= or id="),
        ("pkcs11:token=a?pin-value=1", "object= or id="),
        ("pkcs11:object=a;object=b", "object is given twice"),
        ("pkcs11:id=%01;id=%01", "id is given twice"),
        (
            "pkcs11:object=a?module-path=/a&module-path=/b",
            "given twice",
        ),
        (
            "pkcs11:object=a?pin-value=1&pin-value=2",
            "PIN is given twice",
        ),
        (
            "pkcs11:object=a?pin-value=1&pin-source=/x",
            "PIN is given twice",
        ),
        ("pkcs11:id=%zz", "bad percent-encoding"),
        ("pkcs11:id=%+f", "bad percent-encoding"),
        ("pkcs11:id=%f", "bad percent-encoding"),
        ("pkcs11:id=%", "bad percent-encoding"),
        ("pkcs11:id=%-1", "bad percent-encoding"),
        ("pkcs11:object=a?pin-value=%+1", "bad percent-encoding"),
        (
            "pkcs11:object=a;colour=red",
            "unknown path attribute \"colour\"",
        ),
        ("pkcs11:object=a;x-vendor=1", "vendor path attribute"),
        (
            "pkcs11:object=a?colour=red",
            "unknown query attribute \"colour\"",
        ),
        (
            "pkcs11:object=a;token",
            "path attribute \"token\" has no '='",
        ),
        (
            "pkcs11:pkcs11:object=a",
            "unknown path attribute \"pkcs11:object\" (is \"pkcs11:\" written twice?)",
        ),
        ("pkcs11:object=a?module-path", "has no '='"),
        ("pkcs11:object=a;type=secret", "type=secret"),
        ("pkcs11:object=a;slot-id=x", "decimal"),
        ("pkcs11:object=a;slot-id=+3", "decimal"),
        ("pkcs11:object=a;library-version=1.x", "library-version"),
        ("pkcs11:object=a;library-version=256", "library-version"),
        ("pkcs11:object=%ff", "object is not UTF-8"),
        (
            "pkcs11:object=a?module-name=../lib/evil",
            "bare module name",
        ),
        (
            "pkcs11:object=a?module-name=/usr/lib/x.so",
            "bare module name",
        ),
        ("pkcs11:object=a?module-name=", "bare module name"),
    ];
    for (text, want) in table {
        let reason = refused(text);
        assert!(reason.contains(want), "{text}: {reason}");
    }
    assert!(refused(&format!("pkcs11:object={long}")).contains("longer than 4096"));
    assert!(refused(&format!("pkcs11:object=a?pin-value={long}")).contains("longer than"));
    // The cap is on each value: many values of the largest size are fine.
    let most = "a".repeat(MAX_VALUE);
    parsed(&format!("pkcs11:object={most};token={most}?x-a={most}"));
}

/// The PIN is in no Debug, Display or error text, however the URI is written or broken.
#[test]
fn the_pin_is_never_shown() {
    // Not spelled like an attribute name, as most PINs are not.
    let pin = "4711-s3cr3t";
    let good = format!("pkcs11:token=t;object=k?pin-value={pin}&module-name=softhsm2");
    let uri = parsed(&good);
    for shown in [format!("{uri}"), format!("{uri:?}"), format!("{uri:#?}")] {
        assert!(!shown.contains(pin), "{shown}");
    }
    assert!(uri.to_string().contains("pin-value=***"), "{uri}");
    assert!(uri.to_string().contains("module-name=softhsm2"), "{uri}");
    assert_eq!(uri.pin().unwrap().unwrap().as_str(), pin);
    // A module that does not exist: the error names the URI, redacted.
    let missing = parsed(&format!(
        "pkcs11:object=k?pin-value={pin}&module-name=no-such-module"
    ));
    let err = missing.module().unwrap_err();
    assert!(!format!("{err} {err:?}").contains(pin), "{err}");
    assert!(err.to_string().contains("no-such-module"), "{err}");

    for broken in [
        format!("pkcs11:token=t?pin-value={pin}&colour=red"),
        format!("pkcs11:token=t?pin-value={pin}"),
        format!("pkcs11:object=k;pin-value={pin}"),
        format!("pkcs11:object=k?{pin}"),
        format!("pkcs11:object=k?{pin}=1"),
        format!("pkcs11:object=k?pin-value={pin}%zz"),
        format!("pkcs11:object=k?PIN%2Dvalue={pin}"),
        format!("pkcs11:object=k?pin-value={pin}&pin-value={pin}"),
        format!("pkcs11:object=k?pin-value={pin}{}", "x".repeat(MAX_VALUE)),
        format!("pkcs11:object=k?module-name=a/b&pin-value={pin}"),
    ] {
        let err = Uri::parse(&broken).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(pin), "{broken}: {shown}");
    }
}

#[test]
fn redact_hides_values_that_may_be_pins() {
    assert_eq!(
        redact("pkcs11:object=k?module-path=/m.so&pin-value=1&pin-source=/p&x-a=2"),
        "pkcs11:object=k?module-path=/m.so&pin-value=***&pin-source=/p&x-a=***"
    );
    assert_eq!(
        redact("pkcs11:object=k;pin-value=1?9999"),
        "pkcs11:object=k;pin-value=***?***"
    );
    // Not a URI at all: left alone.
    assert_eq!(redact("/etc/key.yaml"), "/etc/key.yaml");
}

#[test]
fn module_name_is_looked_up_in_the_fixed_directories() {
    // module-path wins and is taken as given.
    let uri = parsed("pkcs11:object=k?module-name=softhsm2&module-path=/opt/m.so");
    assert_eq!(uri.module().unwrap(), Some(PathBuf::from("/opt/m.so")));
    assert_eq!(parsed("pkcs11:object=k").module().unwrap(), None);
    let found = parsed("pkcs11:object=k?module-name=softhsm2")
        .module()
        .unwrap();
    if let Some(path) = found {
        assert!(crate::module_dirs().iter().any(|d| path.starts_with(d)));
        assert_eq!(path.file_name().unwrap(), "libsofthsm2.so");
    }
}

#[test]
fn a_pin_file_loses_its_trailing_newline() {
    let dir = std::env::temp_dir().join(format!("zoll-pkcs11-pin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pin");
    std::fs::write(&file, "12 34\r\n").unwrap();
    let uri = parsed(&format!("pkcs11:object=k?pin-source={}", file.display()));
    assert_eq!(uri.pin().unwrap().unwrap().as_str(), "12 34");
    std::fs::write(&file, "x".repeat(5000)).unwrap();
    assert!(uri.pin().unwrap_err().to_string().contains("larger than"));
    let gone = parsed("pkcs11:object=k?pin-source=/nonexistent/pin");
    assert!(
        gone.pin()
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/pin")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
