//! Reading a package from a folder, a zip or a single `.py` file. Folders and zips go through
//! the same rules ([`assemble`]) over a [`PackageSource`].

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Map;

use super::meta::{parse_meta, CodeRef};
use super::{zipfile, Header, UdfPackage, DEFAULT_UDF_TYPE, MAX_PACKAGE_BYTES};
use crate::{Error, Result};

const NOT_A_PACKAGE: &str = "expected a UDF package: a directory (with meta.json or a .py file), \
                             a .zip archive of one, or a .py file";

/// Read a UDF package from a directory, a `.zip` (files at the root or under one top folder)
/// or a single `.py` file. Everything is validated; code is kept byte for byte.
pub fn read_package(path: impl AsRef<Path>) -> Result<UdfPackage> {
    let path = path.as_ref();
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return read_directory(path);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "zip" || has_zip_magic(path)? {
        read_zip(path)
    } else if ext == "py" {
        read_py_file(path, meta.len())
    } else {
        Err(Error::package(path, NOT_A_PACKAGE))
    }
}

fn has_zip_magic(path: &Path) -> Result<bool> {
    let mut head = [0u8; 4];
    let mut file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let n = file.read(&mut head).map_err(|e| Error::io(path, e))?;
    Ok(n == 4 && (head == *b"PK\x03\x04" || head == *b"PK\x05\x06"))
}

fn read_py_file(path: &Path, len: u64) -> Result<UdfPackage> {
    if len > MAX_PACKAGE_BYTES {
        return Err(too_large(path));
    }
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let code = utf8(bytes, &path.display().to_string())?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::package(path, "expected a .py file with a UTF-8 name"))?
        .to_string();
    let source_file = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .to_string();
    Ok(plain_package(name, code, source_file))
}

fn read_directory(path: &Path) -> Result<UdfPackage> {
    let root = path.canonicalize().map_err(|e| Error::io(path, e))?;
    let name = root
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("udf")
        .to_string();
    let source = DirSource {
        shown: path.to_path_buf(),
        root,
        budget: Cell::new(MAX_PACKAGE_BYTES),
    };
    assemble(&source, &name)
}

fn read_zip(path: &Path) -> Result<UdfPackage> {
    let entries = zipfile::read_zip_entries(path)?;
    if entries.is_empty() {
        return Err(Error::package(
            path,
            format!("the archive holds no files; {NOT_A_PACKAGE}"),
        ));
    }
    let at_root = entries.keys().any(|k| !k.contains('/'));
    let tops: BTreeSet<&str> = entries
        .keys()
        .filter_map(|k| k.split_once('/').map(|(top, _)| top))
        .collect();
    let (prefix, default_name) = if at_root {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("udf");
        (String::new(), stem.to_string())
    } else if tops.len() == 1 {
        let top = tops.first().expect("one top folder").to_string();
        (format!("{top}/"), top)
    } else {
        let list: Vec<&str> = tops.into_iter().collect();
        return Err(Error::package(
            path,
            format!(
                "ambiguous layout: files under several top folders ({}) and none at the root; \
                 expected the package files at the root or under a single folder",
                list.join(", ")
            ),
        ));
    };
    let files = entries
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|rel| (rel.to_string(), v)))
        .collect();
    let source = ZipSource {
        zip: path.to_path_buf(),
        prefix,
        files,
    };
    assemble(&source, &default_name)
}

/// A folder or an in-memory zip, seen as package-relative `a/b.py` paths.
trait PackageSource {
    /// How `rel` is named in error messages.
    fn at(&self, rel: &str) -> String;
    /// The bytes of `rel`, or `None` when there is no such file.
    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>>;
    /// Names of the files directly in the package folder, sorted.
    fn root_files(&self) -> Result<Vec<String>>;
}

struct DirSource {
    /// The folder as the caller named it (for messages).
    shown: PathBuf,
    /// The canonical folder: every file read must resolve inside it.
    root: PathBuf,
    /// Bytes still allowed to be read.
    budget: Cell<u64>,
}

impl PackageSource for DirSource {
    fn at(&self, rel: &str) -> String {
        self.shown.join(rel).display().to_string()
    }

    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = rel
            .split('/')
            .fold(self.root.clone(), |p, part| p.join(part));
        let real = match path.canonicalize() {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(self.at(rel), e)),
        };
        if !real.starts_with(&self.root) {
            return Err(Error::package(
                self.at(rel),
                "is a link to a file outside the package folder; refused",
            ));
        }
        let meta = fs::metadata(&real).map_err(|e| Error::io(self.at(rel), e))?;
        if !meta.is_file() {
            return Err(Error::package(
                self.at(rel),
                "expected a file, found a folder or device",
            ));
        }
        if meta.len() > self.budget.get() {
            return Err(too_large(&self.shown));
        }
        let bytes = fs::read(&real).map_err(|e| Error::io(self.at(rel), e))?;
        self.budget
            .set(self.budget.get().saturating_sub(bytes.len() as u64));
        Ok(Some(bytes))
    }

    fn root_files(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(|e| Error::io(&self.shown, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&self.shown, e))?;
            let is_file = fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
            if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

struct ZipSource {
    zip: PathBuf,
    prefix: String,
    files: BTreeMap<String, Vec<u8>>,
}

impl PackageSource for ZipSource {
    fn at(&self, rel: &str) -> String {
        format!("{}:{}{}", self.zip.display(), self.prefix, rel)
    }

    fn read(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.files.get(rel).cloned())
    }

    fn root_files(&self) -> Result<Vec<String>> {
        Ok(self
            .files
            .keys()
            .filter(|k| !k.contains('/'))
            .cloned()
            .collect())
    }
}

/// The package in `source`: from its meta.json, else from its single `.py` file (or the one
/// named after the folder). `default_name` is the folder name.
fn assemble(source: &dyn PackageSource, default_name: &str) -> Result<UdfPackage> {
    let root_files = source.root_files()?;
    let readme = match pick_readme(&root_files) {
        Some(rel) => source
            .read(rel)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
        None => None,
    };
    let Some(meta_bytes) = source.read("meta.json")? else {
        let mut pkg = from_lone_py_file(source, &root_files, default_name)?;
        pkg.readme = readme;
        return Ok(pkg);
    };
    let meta_at = source.at("meta.json");
    let meta = parse_meta(&meta_bytes, &meta_at)?;
    let name = meta
        .name
        .clone()
        .unwrap_or_else(|| default_name.to_string());

    let read_code = |rel: &str, what: &str| -> Result<String> {
        let bytes = source.read(rel)?.ok_or_else(|| {
            Error::package(&meta_at, format!("{what} {rel:?} is not in the package"))
        })?;
        utf8(bytes, &source.at(rel))
    };
    let (code, source_file) = match &meta.code {
        CodeRef::File(rel) => (read_code(rel, "source file")?, rel.clone()),
        CodeRef::Inline(code) => (code.clone(), format!("{name}.py")),
    };
    let headers = meta
        .headers
        .iter()
        .map(|h| {
            let (source_code, source_file) = match &h.code {
                CodeRef::File(rel) => {
                    let what = format!("header file of module {:?}", h.module_name);
                    (read_code(rel, &what)?, rel.clone())
                }
                CodeRef::Inline(code) => (code.clone(), format!("{}.py", h.module_name)),
            };
            Ok(Header {
                module_name: h.module_name.clone(),
                source_code,
                source_file,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    Ok(UdfPackage {
        name,
        entrypoint: meta.entrypoint,
        code,
        source_file,
        headers,
        parameters: meta.parameters,
        metadata: meta.metadata,
        readme,
        udf_type: meta.udf_type,
    })
}

fn from_lone_py_file(
    source: &dyn PackageSource,
    root_files: &[String],
    default_name: &str,
) -> Result<UdfPackage> {
    let py: Vec<&String> = root_files.iter().filter(|f| f.ends_with(".py")).collect();
    let named = format!("{default_name}.py");
    let chosen = match py.as_slice() {
        [] => {
            return Err(Error::package(
                source.at(""),
                format!("no Python code: no meta.json and no .py file; {NOT_A_PACKAGE}"),
            ))
        }
        [only] => only.as_str(),
        many if many.iter().any(|f| **f == named) => named.as_str(),
        many => {
            let list: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            return Err(Error::package(
                source.at(""),
                format!(
                    "no meta.json and several .py files ({}); expected meta.json, a single \
                     .py file, or one named {named:?}",
                    list.join(", ")
                ),
            ));
        }
    };
    let bytes = source
        .read(chosen)?
        .ok_or_else(|| Error::package(source.at(chosen), "vanished"))?;
    let code = utf8(bytes, &source.at(chosen))?;
    Ok(plain_package(
        default_name.to_string(),
        code,
        chosen.to_string(),
    ))
}

fn pick_readme(root_files: &[String]) -> Option<&str> {
    root_files
        .iter()
        .find(|f| *f == "README.md")
        .or_else(|| {
            root_files
                .iter()
                .find(|f| f.eq_ignore_ascii_case("readme.md"))
        })
        .map(std::string::String::as_str)
}

fn plain_package(name: String, code: String, source_file: String) -> UdfPackage {
    UdfPackage {
        name,
        entrypoint: None,
        code,
        source_file,
        headers: Vec::new(),
        parameters: Map::new(),
        metadata: Map::new(),
        readme: None,
        udf_type: DEFAULT_UDF_TYPE.to_string(),
    }
}

fn utf8(bytes: Vec<u8>, at: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        Error::package(
            at,
            format!(
                "not valid UTF-8 (invalid byte at offset {}); expected UTF-8 Python source",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn too_large(at: &Path) -> Error {
    Error::package(
        at,
        format!(
            "the package is larger than {} MiB; refused (a UDF package is small text files)",
            MAX_PACKAGE_BYTES / (1024 * 1024)
        ),
    )
}
