//! Writing a package in the catalog layout, as a folder or a zip, atomically: everything is
//! written under a temporary sibling name and renamed into place, so a failure never leaves a
//! half-written target and a refused write leaves the target untouched.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::meta::render_meta;
use super::{generated_readme, is_python_identifier, validate_udf_name, zipfile, UdfPackage};
use crate::{Error, Result};

/// Write `pkg` as the catalog folder `path/` (`README.md`, `<name>.py`, `meta.json`, one
/// `<module>.py` per header). Refuses an existing `path` unless `overwrite`; then the old
/// target is replaced only once the new folder is complete. Missing parent folders are created.
pub fn write_directory(pkg: &UdfPackage, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
    let target = path.as_ref();
    let files = render_files(pkg)?;
    let parent = prepare_target(target, overwrite)?;
    let temp_path = temp_sibling(target, &parent, "tmp");
    fs::create_dir(&temp_path).map_err(|e| Error::io(&temp_path, e))?;
    let temp = Temp::new(temp_path);
    for (name, data) in &files {
        let path = temp.path.join(name);
        fill(create_file(&path)?, data, &path)?;
    }
    install(temp, target, overwrite)
}

/// Write `pkg` as a zip at `path`, its files under the top folder `<name>/` (so unzipping
/// gives the catalog folder). Same refusal and atomicity rules as [`write_directory`].
pub fn write_zip(pkg: &UdfPackage, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
    let target = path.as_ref();
    let files = render_files(pkg)?;
    let bytes = zipfile::build_zip(&pkg.name, &files, target)?;
    let parent = prepare_target(target, overwrite)?;
    let temp_path = temp_sibling(target, &parent, "tmp");
    let file = create_file(&temp_path)?;
    let temp = Temp::new(temp_path);
    fill(file, &bytes, &temp.path)?;
    install(temp, target, overwrite)
}

/// The files of the catalog layout for `pkg`, after checking everything that names a file.
fn render_files(pkg: &UdfPackage) -> Result<Vec<(String, Vec<u8>)>> {
    validate_udf_name(&pkg.name)
        .map_err(|msg| Error::invalid("name", msg, format!("{:?}", pkg.name)))?;
    if let Some(ep) = &pkg.entrypoint {
        if !is_python_identifier(ep) {
            return Err(Error::invalid(
                "entrypoint",
                "a Python function name",
                format!("{ep:?}"),
            ));
        }
    }
    let mut taken: BTreeSet<String> = ["readme.md", "meta.json"].map(String::from).into();
    taken.insert(format!("{}.py", pkg.name).to_lowercase());
    for h in &pkg.headers {
        if !is_python_identifier(&h.module_name) {
            return Err(Error::invalid(
                "header module_name",
                "a Python identifier (importable module name)",
                format!("{:?}", h.module_name),
            ));
        }
        if !taken.insert(format!("{}.py", h.module_name).to_lowercase()) {
            return Err(Error::invalid(
                "header module_name",
                "a name used once and different from the UDF name (case-insensitively)",
                format!("{:?}", h.module_name),
            ));
        }
    }
    let readme = pkg.readme.clone().unwrap_or_else(|| generated_readme(pkg));
    let mut files = vec![
        ("README.md".to_string(), readme.into_bytes()),
        (format!("{}.py", pkg.name), pkg.code.as_bytes().to_vec()),
        ("meta.json".to_string(), render_meta(pkg).into_bytes()),
    ];
    for h in &pkg.headers {
        files.push((
            format!("{}.py", h.module_name),
            h.source_code.as_bytes().to_vec(),
        ));
    }
    Ok(files)
}

/// Check `target` (a usable name; absent unless `overwrite`) and return its parent folder,
/// created if missing.
fn prepare_target(target: &Path, overwrite: bool) -> Result<PathBuf> {
    let usable = target.file_name().is_some_and(|n| n != "." && n != "..");
    if !usable {
        return Err(Error::package(
            target,
            "expected a path ending in a file or folder name",
        ));
    }
    if exists(target)? && !overwrite {
        return Err(Error::AlreadyExists {
            path: target.display().to_string(),
        });
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    Ok(parent)
}

fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn create_file(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

fn fill(mut file: fs::File, data: &[u8], path: &Path) -> Result<()> {
    file.write_all(data).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Move the complete `temp` to `target`. A file over a file is one atomic rename; otherwise
/// an existing target is moved aside, the new one renamed in (the old one restored if that
/// fails), then the old one deleted.
fn install(temp: Temp, target: &Path, overwrite: bool) -> Result<()> {
    let existing = match fs::symlink_metadata(target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(target, e)),
    };
    let Some(existing) = existing else {
        fs::rename(&temp.path, target).map_err(|e| Error::io(target, e))?;
        temp.disarm();
        return Ok(());
    };
    if !overwrite {
        // Created by someone else since `prepare_target` looked.
        return Err(Error::AlreadyExists {
            path: target.display().to_string(),
        });
    }
    let temp_is_file = fs::symlink_metadata(&temp.path).is_ok_and(|m| m.is_file());
    if existing.is_file() && temp_is_file {
        fs::rename(&temp.path, target).map_err(|e| Error::io(target, e))?;
        temp.disarm();
        return Ok(());
    }
    let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
    let old = temp_sibling(target, &parent, "old");
    fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
    if let Err(e) = fs::rename(&temp.path, target) {
        let _ = fs::rename(&old, target);
        return Err(Error::io(target, e));
    }
    temp.disarm();
    // The new target is in place; failing to delete the old copy does not undo the write.
    let _ = remove_any(&old);
    Ok(())
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// A hidden, unique name next to `target`: `.<name>.<tag>-<pid>-<counter>-<nanos>`.
fn temp_sibling(target: &Path, parent: &Path, tag: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    parent.join(format!(".{name}.{tag}-{}-{n}-{nanos}", std::process::id()))
}

/// A temporary file or folder, removed on drop unless [`Temp::disarm`]ed.
struct Temp {
    path: PathBuf,
    armed: bool,
}

impl Temp {
    fn new(path: PathBuf) -> Self {
        Temp { path, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.armed {
            let _ = remove_any(&self.path);
        }
    }
}
