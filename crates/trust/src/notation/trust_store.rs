//! A Notation trust store directory: `x509/{ca,signingAuthority,tsa}/NAME/*.{pem,crt,cer}`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::x509::Certificate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreType {
    Ca,
    SigningAuthority,
    Tsa,
}

impl StoreType {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }

    pub fn parse(s: &str) -> Option<StoreType> {
        match s {
            "ca" => Some(StoreType::Ca),
            "signingAuthority" => Some(StoreType::SigningAuthority),
            "tsa" => Some(StoreType::Tsa),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrustStoreError {
    #[error("trust store {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Certificates by (type, name).
#[derive(Debug, Default, Clone)]
pub struct TrustStore {
    stores: BTreeMap<(StoreType, String), Vec<Certificate>>,
}

/// Files larger than this in a trust store are refused.
const MAX_FILE: u64 = 1024 * 1024;

impl TrustStore {
    /// Reads every named store under `root/x509/`. A missing type directory is an empty type.
    pub fn load(root: &Path) -> Result<TrustStore, TrustStoreError> {
        let invalid = |path: &Path, reason: String| TrustStoreError::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let mut store = TrustStore::default();
        let x509 = root.join("x509");
        if !x509.is_dir() {
            return Err(invalid(root, "has no x509/ directory".into()));
        }
        for ty in [StoreType::Ca, StoreType::SigningAuthority, StoreType::Tsa] {
            let dir = x509.join(ty.as_str());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|e| invalid(&dir, e.to_string()))?;
                if !entry.path().is_dir() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let mut certs = Vec::new();
                let mut files: Vec<_> = std::fs::read_dir(entry.path())
                    .map_err(|e| invalid(&entry.path(), e.to_string()))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                for file in files {
                    let len = file
                        .metadata()
                        .map_err(|e| invalid(&file, e.to_string()))?
                        .len();
                    if len > MAX_FILE {
                        return Err(invalid(&file, "too large for a certificate file".into()));
                    }
                    let bytes = std::fs::read(&file).map_err(|e| invalid(&file, e.to_string()))?;
                    let ders = if bytes.starts_with(b"-----") {
                        crate::keys::certificates_from_pem(&bytes)
                            .map_err(|e| invalid(&file, e.to_string()))?
                    } else {
                        vec![bytes]
                    };
                    for der in ders {
                        certs.push(Certificate::from_der(&der).map_err(|e| invalid(&file, e))?);
                    }
                }
                if certs.is_empty() {
                    return Err(invalid(&entry.path(), "holds no certificate".into()));
                }
                store.stores.insert((ty, name), certs);
            }
        }
        Ok(store)
    }

    /// Adds certificates to a named store (for callers that keep anchors elsewhere).
    pub fn add(&mut self, ty: StoreType, name: &str, certs: Vec<Certificate>) {
        self.stores
            .entry((ty, name.to_owned()))
            .or_default()
            .extend(certs);
    }

    pub fn get(&self, ty: StoreType, name: &str) -> Option<&[Certificate]> {
        self.stores.get(&(ty, name.to_owned())).map(Vec::as_slice)
    }
}
