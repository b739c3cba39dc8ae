//! Where the pod spec is in each workload kind, and the parts of it the webhook reads.
//! Only the fields the checks need are typed; everything else is ignored, so the object
//! can come from any Kubernetes version.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::review::GroupVersionKind;

/// JSON pointer of the pod spec inside an object of `kind`, or `None` for kinds the webhook
/// does not cover.
pub fn pod_spec_path(kind: &GroupVersionKind) -> Option<&'static str> {
    match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            Some("/spec/template/spec")
        }
        ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// `null` in a Kubernetes object means the field's default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A struct field: a JSON object or `null` (serde would also fill a struct from an array,
/// which would let `securityContext: []` pass as "nothing set").
fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::de::DeserializeOwned,
{
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(T::default()),
        v @ Value::Object(_) => T::deserialize(v).map_err(D::Error::custom),
        other => Err(D::Error::custom(format!(
            "expected an object, found {}",
            kind_of(&other)
        ))),
    }
}

/// A list of structs: `null` or an array of objects.
fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    let items: Vec<Value> = nullable(d)?;
    items
        .into_iter()
        .map(|v| match v {
            Value::Object(_) => T::deserialize(v).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a list of objects, found {} in it",
                kind_of(&other)
            ))),
        })
        .collect()
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "objects")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "objects")]
    pub init_containers: Vec<Container>,
    #[serde(default, deserialize_with = "objects")]
    pub ephemeral_containers: Vec<Container>,
    #[serde(default, deserialize_with = "objects")]
    pub volumes: Vec<Volume>,
    #[serde(default, deserialize_with = "nullable")]
    pub host_network: bool,
    #[serde(default, rename = "hostPID", deserialize_with = "nullable")]
    pub host_pid: bool,
    #[serde(default, rename = "hostIPC", deserialize_with = "nullable")]
    pub host_ipc: bool,
    #[serde(default, deserialize_with = "object")]
    pub security_context: PodSecurityContext,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    pub run_as_non_root: Option<bool>,
    pub run_as_user: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "object")]
    pub security_context: SecurityContext,
    #[serde(default, deserialize_with = "objects")]
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    pub privileged: Option<bool>,
    pub run_as_non_root: Option<bool>,
    pub run_as_user: Option<i64>,
    #[serde(default, deserialize_with = "object")]
    pub capabilities: Capabilities,
}

#[derive(Debug, Default, Deserialize)]
pub struct Capabilities {
    #[serde(default, deserialize_with = "nullable")]
    pub add: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct VolumeMount {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "object")]
    pub host_path: Option<HostPath>,
}

#[derive(Debug, Default, Deserialize)]
pub struct HostPath {
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
}

/// Which list a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerList {
    Containers,
    InitContainers,
    EphemeralContainers,
}

impl ContainerList {
    pub fn field(self) -> &'static str {
        match self {
            ContainerList::Containers => "containers",
            ContainerList::InitContainers => "initContainers",
            ContainerList::EphemeralContainers => "ephemeralContainers",
        }
    }

    /// How messages name a container of this list.
    pub fn noun(self) -> &'static str {
        match self {
            ContainerList::Containers => "container",
            ContainerList::InitContainers => "init container",
            ContainerList::EphemeralContainers => "ephemeral container",
        }
    }
}

/// One container with where it is.
#[derive(Debug)]
pub struct Located<'a> {
    pub list: ContainerList,
    pub index: usize,
    pub container: &'a Container,
    /// JSON pointer of its `image` field in the reviewed object.
    pub image_path: String,
}

impl Located<'_> {
    /// `container 'app'`, `init container 'setup'`.
    pub fn label(&self) -> String {
        format!("{} '{}'", self.list.noun(), self.container.name)
    }
}

/// A workload's pod spec and where it sits.
#[derive(Debug)]
pub struct Workload {
    pub kind: String,
    pub spec_path: &'static str,
    pub spec: PodSpec,
}

impl Workload {
    /// Reads the pod spec of `object` as a `kind`. Errors say what is wrong, for a 400.
    pub fn read(
        kind: &GroupVersionKind,
        object: &Value,
        max_containers: usize,
    ) -> Result<Workload, String> {
        let spec_path = pod_spec_path(kind).ok_or_else(|| {
            let group = if kind.group.is_empty() {
                "core".to_owned()
            } else {
                kind.group.clone()
            };
            format!(
                "kind {} ({group}) is not a workload zoll admits: Pod, Deployment, ReplicaSet, \
                 StatefulSet, DaemonSet, Job or CronJob",
                kind.kind
            )
        })?;
        if !object.is_object() {
            return Err("the object is not a JSON object".into());
        }
        if let Some(k) = object.get("kind").and_then(Value::as_str)
            && k != kind.kind
        {
            return Err(format!(
                "the object is a {k}, but the request says {}",
                kind.kind
            ));
        }
        let node = object
            .pointer(spec_path)
            .ok_or_else(|| format!("the {} has no pod spec at {spec_path}", kind.kind))?;
        if !node.is_object() {
            return Err(format!(
                "the pod spec at {spec_path} is {}, not an object",
                kind_of(node)
            ));
        }
        let spec = PodSpec::deserialize(node)
            .map_err(|e| format!("the pod spec at {spec_path} is invalid: {e}"))?;
        if spec.containers.is_empty() {
            return Err(format!("the pod spec at {spec_path} has no containers"));
        }
        let n =
            spec.containers.len() + spec.init_containers.len() + spec.ephemeral_containers.len();
        if n > max_containers {
            return Err(format!(
                "the pod spec has {n} containers; at most {max_containers} are admitted"
            ));
        }
        Ok(Workload {
            kind: kind.kind.clone(),
            spec_path,
            spec,
        })
    }

    /// Every container of the three lists, in spec order.
    pub fn containers(&self) -> Vec<Located<'_>> {
        let lists = [
            (ContainerList::InitContainers, &self.spec.init_containers),
            (ContainerList::Containers, &self.spec.containers),
            (
                ContainerList::EphemeralContainers,
                &self.spec.ephemeral_containers,
            ),
        ];
        let mut out = Vec::new();
        for (list, containers) in lists {
            for (index, container) in containers.iter().enumerate() {
                out.push(Located {
                    list,
                    index,
                    container,
                    image_path: format!("{}/{}/{index}/image", self.spec_path, list.field()),
                });
            }
        }
        out
    }
}
