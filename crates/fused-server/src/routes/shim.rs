//! TEMPORARY stand-ins for `fused_server::registry`, `fused_server::auth` and
//! `fused_core::encode`, which are written in other branches. Same names and signatures as
//! their contracts, minimal behaviour. Delete this file when they land and point the
//! re-exports in `routes/mod.rs` at the real modules.

/// Stand-in for `fused_server::registry`: users in a JSON file, no saved UDFs, no share tokens.
pub mod registry {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    #[derive(Debug, thiserror::Error)]
    #[error("registry: {0}")]
    pub struct RegistryError(pub String);

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct User {
        pub id: i64,
        pub email: String,
    }

    #[derive(Debug, Clone)]
    pub struct SavedUdf {
        pub owner_email: String,
        pub name: String,
        pub version: String,
        pub package: fused_core::package::UdfPackage,
        pub schema: BTreeMap<String, String>,
        pub created_at: i64,
    }

    pub struct Registry {
        users_file: PathBuf,
        lock: std::sync::Mutex<()>,
    }

    type Rows = Vec<(i64, String, String)>;

    impl Registry {
        pub fn open(data_dir: &Path) -> Result<Registry, RegistryError> {
            std::fs::create_dir_all(data_dir).map_err(|e| RegistryError(e.to_string()))?;
            Ok(Registry {
                users_file: data_dir.join("shim-users.json"),
                lock: std::sync::Mutex::new(()),
            })
        }

        fn rows(&self) -> Result<Rows, RegistryError> {
            match std::fs::read(&self.users_file) {
                Ok(b) => serde_json::from_slice(&b).map_err(|e| RegistryError(e.to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(RegistryError(e.to_string())),
            }
        }

        pub fn authenticate(&self, bearer: &str) -> Result<Option<User>, RegistryError> {
            let _g = self.lock.lock().unwrap();
            Ok(self
                .rows()?
                .into_iter()
                .find(|(_, _, key)| key == bearer)
                .map(|(id, email, _)| User { id, email }))
        }

        pub fn get_udf(
            &self,
            _owner: &str,
            _name: &str,
        ) -> Result<Option<SavedUdf>, RegistryError> {
            Ok(None)
        }

        pub fn resolve_share_token(&self, _token: &str) -> Result<Option<SavedUdf>, RegistryError> {
            Ok(None)
        }

        pub fn create_user(&self, email: &str) -> Result<(User, String), RegistryError> {
            let _g = self.lock.lock().unwrap();
            let mut rows = self.rows()?;
            if rows.iter().any(|(_, e, _)| e == email) {
                return Err(RegistryError(format!("user {email} already exists")));
            }
            let mut raw = [0u8; 24];
            getrandom::fill(&mut raw).map_err(|e| RegistryError(e.to_string()))?;
            let key: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            let key = format!("fsk_{key}");
            let id = rows.len() as i64 + 1;
            rows.push((id, email.to_string(), key.clone()));
            let tmp = self.users_file.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(&rows).unwrap())
                .and_then(|_| std::fs::rename(&tmp, &self.users_file))
                .map_err(|e| RegistryError(e.to_string()))?;
            Ok((
                User {
                    id,
                    email: email.to_string(),
                },
                key,
            ))
        }
    }
}

/// Stand-in for `fused_server::auth`: bearer parsing, no routes.
pub mod auth {
    use std::sync::Arc;

    use super::registry::Registry;

    pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    #[derive(Debug, Clone, Default)]
    pub struct AuthConfig {}

    pub fn routes(_registry: Arc<Registry>, _config: AuthConfig) -> axum::Router {
        axum::Router::new()
    }
}

/// Stand-in for `fused_core::encode`: json, raw bytes, the Arrow IPC stream as is, npy.
pub mod encode {
    use fused_core::result::CanonicalResult;
    use fused_core::{Error, Result};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Format {
        Parquet,
        GeoJson,
        Json,
        Csv,
        Arrow,
        Mvt,
        Png,
        Tiff,
        Npy,
        Raw,
    }

    impl Format {
        pub fn from_name(name: &str) -> Option<Format> {
            Some(match name.trim().to_ascii_lowercase().as_str() {
                "parquet" => Format::Parquet,
                "geojson" => Format::GeoJson,
                "json" => Format::Json,
                "csv" => Format::Csv,
                "arrow" | "feather" => Format::Arrow,
                "mvt" | "pbf" => Format::Mvt,
                "png" => Format::Png,
                "tiff" | "tif" => Format::Tiff,
                "npy" => Format::Npy,
                "raw" => Format::Raw,
                _ => return None,
            })
        }
    }

    pub struct FormatRequest<'a> {
        pub format: Option<&'a str>,
        pub dtype_out_vector: Option<&'a str>,
        pub dtype_out_raster: Option<&'a str>,
        pub extension: Option<&'a str>,
        pub is_tile: bool,
    }

    pub struct TileBounds {
        pub x: u32,
        pub y: u32,
        pub z: u8,
    }

    pub struct Encoded {
        pub body: Vec<u8>,
        pub content_type: String,
    }

    fn fits(result: &CanonicalResult, f: Format) -> bool {
        matches!(
            (result, f),
            (CanonicalResult::Table { .. }, Format::Arrow)
                | (CanonicalResult::Raster { .. }, Format::Npy)
                | (CanonicalResult::Json(_), Format::Json)
                | (CanonicalResult::Bytes { .. }, Format::Raw)
        )
    }

    pub fn choose_format(result: &CanonicalResult, req: &FormatRequest) -> Result<Format> {
        let asked = req.format.or(req.extension).or(match result {
            CanonicalResult::Table { .. } => req.dtype_out_vector,
            CanonicalResult::Raster { .. } => req.dtype_out_raster,
            _ => None,
        });
        let default = match result {
            CanonicalResult::Table { .. } => "parquet",
            CanonicalResult::Raster { .. } => "png",
            CanonicalResult::Json(_) => "json",
            CanonicalResult::Bytes { .. } => "raw",
        };
        let asked = asked.unwrap_or(default);
        asked
            .split(',')
            .filter_map(Format::from_name)
            .find(|f| fits(result, *f))
            .ok_or_else(|| {
                Error::invalid(
                    "format",
                    format!("a format for a {} result (encoder shim)", result.kind()),
                    asked,
                )
            })
    }

    pub fn encode(
        result: &CanonicalResult,
        format: Format,
        _tile: Option<TileBounds>,
    ) -> Result<Encoded> {
        let (body, content_type) = match (result, format) {
            (CanonicalResult::Json(v), Format::Json) => (
                serde_json::to_vec(v).unwrap(),
                "application/json".to_string(),
            ),
            (CanonicalResult::Bytes { data, content_type }, Format::Raw) => {
                (data.clone(), content_type.clone())
            }
            (CanonicalResult::Table { ipc }, Format::Arrow) => (
                ipc.clone(),
                "application/vnd.apache.arrow.stream".to_string(),
            ),
            (
                CanonicalResult::Raster {
                    data, dtype, shape, ..
                },
                Format::Npy,
            ) => {
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                let tuple = if dims.len() == 1 {
                    format!("({},)", dims[0])
                } else {
                    format!("({})", dims.join(", "))
                };
                let mut header = format!(
                    "{{'descr': '{}', 'fortran_order': False, 'shape': {tuple}, }}",
                    dtype.numpy_str()
                );
                while (10 + header.len() + 1) % 64 != 0 {
                    header.push(' ');
                }
                header.push('\n');
                let mut body = b"\x93NUMPY\x01\x00".to_vec();
                body.extend_from_slice(&(header.len() as u16).to_le_bytes());
                body.extend_from_slice(header.as_bytes());
                body.extend_from_slice(data);
                (body, "application/octet-stream".to_string())
            }
            _ => {
                return Err(Error::invalid(
                    "format",
                    "a format that fits the result",
                    format!("{format:?}"),
                ))
            }
        };
        Ok(Encoded { body, content_type })
    }
}
