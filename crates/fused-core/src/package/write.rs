//! Writing a package in the catalog layout, as a folder or a zip, atomically: everything is
//! written under a temporary sibling name and renamed into place, so a failure never leaves a
//! half-written target and a refused write leaves the target untouched.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use super::meta::render_meta;
use super::{generated_readme, is_python_identifier, validate_udf_name, zipfile, UdfPackage};
use crate::fsutil::{self, TempPath};
use crate::{Error, Result};

/// Write `pkg` as the catalog folder `path/` (`README.md`, `<name>.py`, `meta.json`, one
/// `<module>.py` per header). Refuses an existing `path` unless `overwrite`; then the old
/// target is replaced only once the new folder is complete. Missing parent folders are created.
pub fn write_directory(pkg: &UdfPackage, path: impl AsRef<Path>, overwrite: bool) -> Result<()> {
    let target = path.as_ref();
    let files = render_files(pkg)?;
    prepare_target(target, overwrite)?;
    let temp = TempPath::dir_for(target).map_err(|e| Error::io(target, e))?;
    for (name, data) in &files {
        let path = temp.path().join(name);
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
    prepare_target(target, overwrite)?;
    let temp = TempPath::new(fsutil::temp_sibling(target, "tmp"));
    fill(create_file(temp.path())?, &bytes, temp.path())?;
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

/// Check `target` (a usable name; absent unless `overwrite`) and create its parent folder
/// if missing.
fn prepare_target(target: &Path, overwrite: bool) -> Result<()> {
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
    let parent = fsutil::parent_of(target);
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))
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

/// Move the complete `temp` to `target` ([`fsutil::replace`]), refusing a target that
/// appeared since [`prepare_target`] looked unless `overwrite`.
fn install(temp: TempPath, target: &Path, overwrite: bool) -> Result<()> {
    if !overwrite && exists(target)? {
        // Created by someone else since `prepare_target` looked.
        return Err(Error::AlreadyExists {
            path: target.display().to_string(),
        });
    }
    fsutil::replace(temp.path(), target).map_err(|e| Error::io(target, e))?;
    temp.keep();
    Ok(())
}
