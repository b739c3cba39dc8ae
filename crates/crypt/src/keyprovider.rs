//! ocicrypt's key provider protocol, command mode
//! (`org.opencontainers.image.enc.keys.provider.<name>`). The providers come from the JSON
//! file named by `OCICRYPT_KEYPROVIDER_CONFIG`:
//! `{"key-providers":{"NAME":{"cmd":{"path":"/bin/x","args":[]}}}}`. The command gets the
//! protocol input as JSON on stdin and answers on stdout:
//!
//! - wrap: `{"op":"keywrap","keywrapparams":{"ec":{"Parameters":{"NAME":[<b64 params>]},
//!   "DecryptConfig":{"Parameters":{}}},"optsdata":<b64>},"keyunwrapparams":{…}}` →
//!   `{"keywrapresults":{"annotation":<b64>}}`
//! - unwrap: `{"op":"keyunwrap","keywrapparams":{…},"keyunwrapparams":{"dc":{"Parameters":
//!   {"NAME":[<b64 params>]}},"annotation":<b64>}}` → `{"keyunwrapresults":{"optsdata":<b64>}}`
//!
//! Only the named provider's parameters are passed (ocicrypt passes every key parameter it
//! has, private keys included). gRPC providers are refused with a clear error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{CryptError, Result};

pub const ANNOTATION_PREFIX: &str = "org.opencontainers.image.enc.keys.provider.";
pub const CONFIG_ENV: &str = "OCICRYPT_KEYPROVIDER_CONFIG";

/// Provider output larger than this is refused.
const MAX_OUTPUT: u64 = 1 << 20;
/// A provider that does not answer within this is killed.
const TIMEOUT: Duration = Duration::from_secs(60);

fn err(name: &str, reason: impl Into<String>) -> CryptError {
    CryptError::KeyProvider {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "key-providers", default)]
    providers: BTreeMap<String, ProviderAttrs>,
}

#[derive(Deserialize)]
struct ProviderAttrs {
    cmd: Option<CommandSpec>,
    grpc: Option<String>,
}

#[derive(Deserialize, Clone, Debug)]
struct CommandSpec {
    path: PathBuf,
    #[serde(default)]
    args: Vec<String>,
}

/// One configured provider, ready to run.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    command: CommandSpec,
}

/// `provider:NAME[:PARAMS]`: the provider and the parameters to give it.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    pub provider: Provider,
    pub params: Vec<u8>,
}

impl ProviderKey {
    /// Looks `NAME` up in the configuration file named by `OCICRYPT_KEYPROVIDER_CONFIG`.
    pub fn from_spec(value: &str) -> Result<ProviderKey> {
        let (name, params) = match value.split_once(':') {
            Some((n, p)) => (n, p.as_bytes().to_vec()),
            // ocicrypt passes "Enabled" when no parameters are given.
            None => (value, b"Enabled".to_vec()),
        };
        let path = std::env::var_os(CONFIG_ENV).ok_or_else(|| {
            err(
                name,
                format!("{CONFIG_ENV} is not set, so no key providers are configured"),
            )
        })?;
        let text = std::fs::read(&path).map_err(|e| {
            err(
                name,
                format!("reading {}: {e}", PathBuf::from(&path).display()),
            )
        })?;
        let config: ConfigFile = serde_json::from_slice(&text)
            .map_err(|e| err(name, format!("{CONFIG_ENV} file is not valid: {e}")))?;
        let attrs = config.providers.get(name).ok_or_else(|| {
            err(
                name,
                format!("not configured in {}", PathBuf::from(&path).display()),
            )
        })?;
        let command = match (&attrs.cmd, &attrs.grpc) {
            (Some(cmd), _) => cmd.clone(),
            (None, Some(_)) => {
                return Err(err(
                    name,
                    "gRPC key providers are not supported; use command mode",
                ));
            }
            (None, None) => return Err(err(name, "configuration has neither cmd nor grpc")),
        };
        Ok(ProviderKey {
            provider: Provider {
                name: name.to_owned(),
                command,
            },
            params,
        })
    }

    pub fn annotation(&self) -> String {
        format!("{ANNOTATION_PREFIX}{}", self.provider.name)
    }

    fn parameters(&self) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.params);
        json!({ self.provider.name.clone(): [b64] })
    }

    /// Asks the provider to wrap `optsdata`; returns the annotation bytes it produced.
    pub fn wrap(&self, optsdata: &[u8]) -> Result<Vec<u8>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let input = json!({
            "op": "keywrap",
            "keywrapparams": {
                "ec": {"Parameters": self.parameters(), "DecryptConfig": {"Parameters": {}}},
                "optsdata": b64.encode(optsdata),
            },
            "keyunwrapparams": {"dc": null, "annotation": null},
        });
        let out = self.run(&input)?;
        self.bytes_at(&out, "keywrapresults", "annotation")
    }

    /// Asks the provider to unwrap `annotation`. `Ok(None)` when it could not.
    pub fn unwrap(&self, annotation: &[u8]) -> Result<Option<Vec<u8>>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let input = json!({
            "op": "keyunwrap",
            "keywrapparams": {"ec": null, "optsdata": null},
            "keyunwrapparams": {
                "dc": {"Parameters": self.parameters()},
                "annotation": b64.encode(annotation),
            },
        });
        match self.run(&input) {
            Ok(out) => self
                .bytes_at(&out, "keyunwrapresults", "optsdata")
                .map(Some),
            // A provider that cannot unwrap exits non-zero; that is "not this key".
            Err(CryptError::KeyProvider { reason, .. }) if reason.starts_with("exited") => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn bytes_at(&self, out: &Value, section: &str, field: &str) -> Result<Vec<u8>> {
        let s = out
            .get(section)
            .and_then(|s| s.get(field))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                err(
                    &self.provider.name,
                    format!("answer has no {section}.{field}"),
                )
            })?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| err(&self.provider.name, format!("{section}.{field}: {e}")))
    }

    fn run(&self, input: &Value) -> Result<Value> {
        let name = &self.provider.name;
        let cmd = &self.provider.command;
        let mut child = Command::new(&cmd.path)
            .args(&cmd.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(name, format!("cannot run {}: {e}", cmd.path.display())))?;
        let mut stdin = child.stdin.take().expect("piped");
        let payload = serde_json::to_vec(input).expect("json");
        let writer = std::thread::spawn(move || stdin.write_all(&payload));
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            (&mut stdout)
                .take(MAX_OUTPUT + 1)
                .read_to_end(&mut buf)
                .map(|_| buf)
        });
        let mut stderr = child.stderr.take().expect("piped");
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut stderr).take(4096).read_to_end(&mut buf);
            buf
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if started.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(
                    name,
                    format!("no answer within {}s", TIMEOUT.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = writer.join();
        let out = reader.join().expect("reader thread")?;
        let stderr =
            String::from_utf8_lossy(&err_reader.join().expect("stderr thread")).into_owned();
        if !status.success() {
            let first = stderr.lines().next().unwrap_or("").trim();
            return Err(err(name, format!("exited with {status}: {first}")));
        }
        if out.len() as u64 > MAX_OUTPUT {
            return Err(CryptError::Limit(format!(
                "key provider {name} answered more than {MAX_OUTPUT} bytes"
            )));
        }
        serde_json::from_slice(&out).map_err(|e| err(name, format!("answer is not JSON: {e}")))
    }
}
