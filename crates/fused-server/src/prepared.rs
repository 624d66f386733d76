//! A UDF ready to run: the typed package, its content hash, its parameter specs parsed once,
//! its cache namespace and the UDF part of its run keys hashed once. One [`PreparedUdf`]
//! travels from the route through the parameter check and the run cache to the executor; it
//! is serialised only at the worker boundary (`executor::protocol::Request`), and the worker
//! keys its compiled code by [`PreparedUdf::hash`].
//!
//! [`PreparedUdfs`] keeps the prepared versions the server ran last (an LRU keyed by
//! namespace and content hash), so a saved version's specs are parsed once, not per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use fused_core::package::UdfPackage;
use fused_core::params::TypeSpec;
use fused_core::runcache::key::{self, RunKeyer};
use serde_json::{Map, Value};

/// How many prepared versions [`PreparedUdfs`] keeps.
pub const PREPARED_CAPACITY: usize = 256;

/// One parameter's declared type: the spec text and its parse (an unusable spec is an error
/// only for a request that gives that parameter, as before specs were parsed up front).
#[derive(Debug, Clone)]
pub struct ParamSpec {
    pub text: String,
    pub parsed: Result<TypeSpec, String>,
}

impl ParamSpec {
    pub fn parse(text: &str) -> Self {
        ParamSpec {
            text: text.to_string(),
            parsed: TypeSpec::parse(text).map_err(|e| e.to_string()),
        }
    }
}

/// A UDF package with everything the run pipeline derives from it, computed once.
#[derive(Clone)]
pub struct PreparedUdf {
    package: UdfPackage,
    hash: String,
    schema: Option<BTreeMap<String, ParamSpec>>,
    namespace: String,
    keyer: RunKeyer,
}

impl std::fmt::Debug for PreparedUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedUdf")
            .field("name", &self.package.name)
            .field("hash", &self.hash)
            .field("namespace", &self.namespace)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PreparedUdf {
    /// A package run with its values passed on unchecked (no schema), in the namespace of
    /// its code (as code shipped by the SDK).
    pub fn new(package: UdfPackage) -> Self {
        Self::with_schema(package, None)
    }

    /// A package with its parameter schema (name -> spec text; `None`: values unchecked),
    /// in the namespace of its code.
    pub fn with_schema(package: UdfPackage, schema: Option<BTreeMap<String, String>>) -> Self {
        let hash = content_hash(&package, schema.as_ref());
        Self::with_hash(package, schema, hash, None)
    }

    /// The full form: `hash` is the content hash of package and schema (a saved version's
    /// `version`), `namespace` the cache namespace (`None`: the code's).
    pub fn with_hash(
        package: UdfPackage,
        schema: Option<BTreeMap<String, String>>,
        hash: String,
        namespace: Option<String>,
    ) -> Self {
        let namespace = namespace.unwrap_or_else(|| key::code_namespace_of(&package.code));
        let schema = schema.map(|s| {
            s.iter()
                .map(|(name, text)| (name.clone(), ParamSpec::parse(text)))
                .collect()
        });
        let keyer = RunKeyer::from_package(&package);
        PreparedUdf {
            package,
            hash,
            schema,
            namespace,
            keyer,
        }
    }

    pub fn package(&self) -> &UdfPackage {
        &self.package
    }

    /// Hex SHA-256 of the package and schema (a saved UDF's version).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Parameter name -> spec; `None`: values are passed on unchecked.
    pub fn schema(&self) -> Option<&BTreeMap<String, ParamSpec>> {
        self.schema.as_ref()
    }

    /// The run cache namespace (a saved UDF's identity, or the code's hash).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The UDF's own cache lifetime (`fused:cacheMaxAge` in its metadata, seconds).
    pub fn cache_max_age(&self) -> Option<u64> {
        self.package
            .metadata
            .get("fused:cacheMaxAge")
            .and_then(Value::as_u64)
    }

    /// The run key of validated `parameters` and `tile` `(z, x, y)`.
    pub fn run_key(
        &self,
        parameters: &Map<String, Value>,
        tile: Option<(u32, u32, u32)>,
    ) -> String {
        self.keyer.server_key(parameters, tile)
    }
}

/// The content hash of a package and its schema: the registry's version hash.
pub fn content_hash(package: &UdfPackage, schema: Option<&BTreeMap<String, String>>) -> String {
    let value = serde_json::to_value(package).unwrap_or(Value::Null);
    crate::registry::content_version(&value, schema.unwrap_or(&BTreeMap::new()))
}

/// The prepared versions used last, keyed by namespace and content hash.
pub struct PreparedUdfs {
    capacity: usize,
    map: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, (Arc<PreparedUdf>, u64)>,
    tick: u64,
}

impl Default for PreparedUdfs {
    fn default() -> Self {
        Self::new(PREPARED_CAPACITY)
    }
}

impl PreparedUdfs {
    pub fn new(capacity: usize) -> Self {
        PreparedUdfs {
            capacity: capacity.max(1),
            map: Mutex::default(),
        }
    }

    /// The prepared form of version `hash` in `namespace`, if it is held.
    pub fn get(&self, namespace: &str, hash: &str) -> Option<Arc<PreparedUdf>> {
        let id = format!("{namespace}/{hash}");
        let mut lru = self.map.lock().ok()?;
        lru.tick += 1;
        let tick = lru.tick;
        let (found, used) = lru.entries.get_mut(&id)?;
        *used = tick;
        Some(found.clone())
    }

    /// The prepared form of version `hash` in `namespace`, built by `prepare` when absent.
    pub fn get_or_prepare(
        &self,
        namespace: &str,
        hash: &str,
        prepare: impl FnOnce() -> PreparedUdf,
    ) -> Arc<PreparedUdf> {
        let id = format!("{namespace}/{hash}");
        if let Ok(mut lru) = self.map.lock() {
            lru.tick += 1;
            let tick = lru.tick;
            if let Some((found, used)) = lru.entries.get_mut(&id) {
                *used = tick;
                return found.clone();
            }
        }
        let prepared = Arc::new(prepare());
        if let Ok(mut lru) = self.map.lock() {
            lru.tick += 1;
            let tick = lru.tick;
            lru.entries.insert(id, (prepared.clone(), tick));
            if lru.entries.len() > self.capacity {
                let oldest = lru
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, used))| *used)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    lru.entries.remove(&k);
                }
            }
        }
        prepared
    }

    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fused_core::package::package_from_code;

    fn pkg(code: &str) -> UdfPackage {
        package_from_code("p", code).unwrap()
    }

    #[test]
    fn specs_parsed_once_and_bad_ones_kept_as_errors() {
        let schema = BTreeMap::from([
            ("n".to_string(), "int".to_string()),
            ("bad".to_string(), "nope[".to_string()),
        ]);
        let p = PreparedUdf::with_schema(pkg("x"), Some(schema));
        let s = p.schema().unwrap();
        assert_eq!(s["n"].parsed.as_ref().unwrap().to_string(), "int");
        assert!(s["bad"].parsed.is_err());
        assert_eq!(p.namespace(), key::code_namespace_of("x"));
        assert_eq!(p.hash().len(), 64);
        // the hash is the registry's version hash of package + schema
        assert_ne!(PreparedUdf::new(pkg("x")).hash(), p.hash());
        assert_eq!(
            PreparedUdf::new(pkg("x")).hash(),
            PreparedUdf::new(pkg("x")).hash()
        );
    }

    #[test]
    fn run_key_is_the_package_json_key() {
        let mut p = pkg("def udf(n=1): return n");
        p.parameters.insert("n".into(), serde_json::json!(1));
        let params: Map<String, Value> =
            [("n".to_string(), Value::from("2"))].into_iter().collect();
        let want = key::run_key(&serde_json::to_value(&p).unwrap(), &params, Some((3, 1, 2)));
        assert_eq!(PreparedUdf::new(p).run_key(&params, Some((3, 1, 2))), want);
    }

    #[test]
    fn lru_prepares_once_and_evicts_the_least_recent() {
        let lru = PreparedUdfs::new(2);
        let mut built = 0;
        for _ in 0..3 {
            lru.get_or_prepare("ns", "a", || {
                built += 1;
                PreparedUdf::new(pkg("a"))
            });
        }
        assert_eq!(built, 1);
        lru.get_or_prepare("ns", "b", || PreparedUdf::new(pkg("b")));
        lru.get_or_prepare("ns", "a", || unreachable!("cached"));
        lru.get_or_prepare("ns", "c", || PreparedUdf::new(pkg("c")));
        assert_eq!(lru.len(), 2);
        // "b" was the least recently used
        let mut rebuilt = false;
        lru.get_or_prepare("ns", "b", || {
            rebuilt = true;
            PreparedUdf::new(pkg("b"))
        });
        assert!(rebuilt);
        // same hash, other namespace: another entry
        let other = lru.get_or_prepare("other", "b", || {
            PreparedUdf::with_hash(pkg("b"), None, "b".into(), Some("other".into()))
        });
        assert_eq!(other.namespace(), "other");
    }
}
