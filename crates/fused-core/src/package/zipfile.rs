//! Package zips, read into memory (never extracted to disk) with every entry checked, and built
//! in memory for writing.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::{MAX_PACKAGE_BYTES, MAX_ZIP_ENTRIES};
use crate::{Error, Result};

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// Read every file entry of the zip at `path` into memory, keyed by its normalised name
/// (`Top/meta.json`). Refuses absolute names, `..`, links and other special entries, encrypted
/// entries, duplicates, and archives over [`MAX_ZIP_ENTRIES`] entries or
/// [`MAX_PACKAGE_BYTES`] uncompressed. macOS `__MACOSX/` and `.DS_Store` entries are skipped.
pub(crate) fn read_zip_entries(path: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = ZipArchive::new(BufReader::new(file))
        .map_err(|e| Error::package(path, format!("not a valid zip archive: {e}")))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(Error::package(
            path,
            format!(
                "the archive has {} entries; at most {MAX_ZIP_ENTRIES} are accepted",
                archive.len()
            ),
        ));
    }
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::package(path, format!("zip entry #{i}: {e}")))?;
        let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let refuse = |why: &str| Error::package(path, format!("zip entry {raw:?}: {why}; refused"));
        let name = entry
            .name()
            .map_err(|_| refuse("the name is not valid text"))?
            .into_owned();
        let name = checked_entry_name(&name).map_err(refuse)?;
        if let Some(mode) = entry.unix_mode() {
            match mode & S_IFMT {
                S_IFLNK => return Err(refuse("it is a symbolic link")),
                0 | S_IFREG | S_IFDIR => {}
                _ => return Err(refuse("it is not a regular file")),
            }
        }
        if entry.encrypted() {
            return Err(refuse("it is encrypted"));
        }
        if entry.is_dir() || name.is_empty() {
            continue;
        }
        let limit = MAX_PACKAGE_BYTES - total;
        let too_big = || {
            Error::package(
                path,
                format!(
                    "the archive expands to more than {} MiB (at entry {raw:?}); refused \
                     (a UDF package is small text files)",
                    MAX_PACKAGE_BYTES / (1024 * 1024)
                ),
            )
        };
        if entry.size() > limit {
            return Err(too_big());
        }
        let mut data = Vec::with_capacity(entry.size().min(1 << 20) as usize);
        (&mut entry)
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::package(path, format!("zip entry {raw:?}: {e}")))?;
        if data.len() as u64 > limit {
            return Err(too_big());
        }
        total += data.len() as u64;
        let skipped = name == "__MACOSX"
            || name.starts_with("__MACOSX/")
            || name == ".DS_Store"
            || name.ends_with("/.DS_Store");
        if skipped {
            continue;
        }
        if files.insert(name.clone(), data).is_some() {
            return Err(Error::package(
                path,
                format!("zip entry {name:?} appears more than once; refused"),
            ));
        }
    }
    Ok(files)
}

/// Normalise an entry name to `a/b` form, or say why it is refused.
fn checked_entry_name(name: &str) -> std::result::Result<String, &'static str> {
    if name.contains('\0') {
        return Err("the name contains a NUL byte");
    }
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic();
    if name.starts_with(['/', '\\']) || drive {
        return Err("the path is absolute");
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err("the path contains '..'"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// A zip holding `files` under the folder `top/` (so unzipping gives the catalog folder).
pub(crate) fn build_zip(top: &str, files: &[(String, Vec<u8>)], at: &Path) -> Result<Vec<u8>> {
    let fail =
        |e: zip::result::ZipError| Error::package(at, format!("could not build the zip: {e}"));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let dir_options = SimpleFileOptions::default().unix_permissions(0o755);
    let file_options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644);
    writer
        .add_directory(format!("{top}/"), dir_options)
        .map_err(fail)?;
    for (name, data) in files {
        writer
            .start_file(format!("{top}/{name}"), file_options)
            .map_err(fail)?;
        writer
            .write_all(data)
            .map_err(|e| Error::package(at, format!("could not build the zip: {e}")))?;
    }
    Ok(writer.finish().map_err(fail)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(checked_entry_name("A/./b.py").unwrap(), "A/b.py");
        assert_eq!(checked_entry_name("A\\b.py").unwrap(), "A/b.py");
        assert_eq!(checked_entry_name("A/").unwrap(), "A");
        assert!(checked_entry_name("/etc/passwd").is_err());
        assert!(checked_entry_name("C:\\x.py").is_err());
        assert!(checked_entry_name("A/../../x.py").is_err());
        assert!(checked_entry_name("x\0.py").is_err());
    }
}
