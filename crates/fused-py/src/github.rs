//! GitHub and gist fetching: `github_fetch`, `github_create_gist`, `parse_github_url`.
//! The Python caller reads the environment (`FUSED_CACHE_DIR`, `FUSED_GITHUB_API_URL`,
//! `FUSED_GITHUB_RAW_URL`, `GITHUB_TOKEN`, `FUSED_GITHUB_REVALIDATE_S`) and passes it in.

use fused_core::github::{self, FetchOptions, GithubSource, HttpSettings, Target};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::PyFusedError;

fn core_err(e: fused_core::Error) -> PyErr {
    PyFusedError(e).into()
}

/// Fetch the UDF package behind a GitHub or gist URL into the on-disk cache.
///
/// Returns `{"path", "kind", "owner", "repo", "ref", "subpath", "gist_id", "from_cache",
/// "warnings"}`; `path` is the package folder, or for a URL to one `.py` file that file.
#[pyfunction]
#[pyo3(signature = (url, *, cache_dir, api_url, raw_url, token=None, revalidate_s=60))]
fn github_fetch<'py>(
    py: Python<'py>,
    url: &str,
    cache_dir: std::path::PathBuf,
    api_url: &str,
    raw_url: &str,
    token: Option<&str>,
    revalidate_s: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let opts = FetchOptions {
        cache_dir,
        api_url: api_url.to_string(),
        raw_url: raw_url.to_string(),
        token: token.map(str::to_string),
        revalidate_s,
        http: HttpSettings::default(),
    };
    let fetched = py.detach(|| github::fetch(url, &opts)).map_err(core_err)?;
    let d = PyDict::new(py);
    d.set_item("path", fetched.path.to_string_lossy().into_owned())?;
    d.set_item("kind", fetched.kind.as_str())?;
    d.set_item("owner", fetched.owner)?;
    d.set_item("repo", fetched.repo)?;
    d.set_item("ref", fetched.reference)?;
    d.set_item("subpath", fetched.subpath)?;
    d.set_item("gist_id", fetched.gist_id)?;
    d.set_item("from_cache", fetched.from_cache)?;
    d.set_item("warnings", fetched.warnings)?;
    Ok(d)
}

/// Create a gist from `{name: content}` through `POST <api>/gists`; needs a token.
/// Returns `{"html_url", "id"}`.
#[pyfunction]
#[pyo3(signature = (files, *, description, public, api_url, token))]
fn github_create_gist<'py>(
    py: Python<'py>,
    files: &Bound<'py, PyDict>,
    description: &str,
    public: bool,
    api_url: &str,
    token: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let files = files
        .iter()
        .map(|(k, v)| Ok((k.extract::<String>()?, v.extract::<String>()?)))
        .collect::<PyResult<Vec<(String, String)>>>()?;
    let created = py
        .detach(|| {
            github::create_gist(
                &files,
                description,
                public,
                api_url,
                token,
                &HttpSettings::default(),
            )
        })
        .map_err(core_err)?;
    let d = PyDict::new(py);
    d.set_item("html_url", created.html_url)?;
    d.set_item("id", created.id)?;
    Ok(d)
}

/// Parse a GitHub or gist URL without any network: `{"kind", "owner", "repo", "ref",
/// "subpath", "gist_id"}` (for a ref with slashes, `ref`/`subpath` are the first guess).
#[pyfunction]
fn parse_github_url<'py>(py: Python<'py>, url: &str) -> PyResult<Bound<'py, PyDict>> {
    let source = GithubSource::parse(url).map_err(core_err)?;
    let d = PyDict::new(py);
    let (owner, repo, reference, subpath, gist_id) = match &source.target {
        Target::Folder(p) | Target::File(p) => (
            Some(p.owner.clone()),
            Some(p.repo.clone()),
            Some(p.reference()),
            Some(p.path()),
            None,
        ),
        Target::Gist { user, id, revision } => {
            (user.clone(), None, revision.clone(), None, Some(id.clone()))
        }
    };
    d.set_item("kind", source.kind.as_str())?;
    d.set_item("owner", owner)?;
    d.set_item("repo", repo)?;
    d.set_item("ref", reference)?;
    d.set_item("subpath", subpath)?;
    d.set_item("gist_id", gist_id)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(github_fetch, m)?)?;
    m.add_function(wrap_pyfunction!(github_create_gist, m)?)?;
    m.add_function(wrap_pyfunction!(parse_github_url, m)?)?;
    Ok(())
}
