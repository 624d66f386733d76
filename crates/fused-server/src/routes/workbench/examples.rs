//! The example UDFs of `examples/udfs/` (what `make run` saves and shares), embedded in the
//! server so the Workbench lists them on any machine. Each is assembled from its embedded
//! `meta.json` (type, entrypoint, metadata), code file and header files; `fused_core`'s
//! package reader works on folders and zips, not on embedded text, hence this small table.

use fused_core::package::{package_from_code, Header, UdfPackage};
use serde_json::Value;

/// One example: name, meta.json, code, headers (module name, source).
type Example = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

macro_rules! example {
    ($name:literal $(, $header:literal)*) => {
        (
            $name,
            include_str!(concat!("../../../../../examples/udfs/", $name, "/meta.json")),
            include_str!(concat!("../../../../../examples/udfs/", $name, "/", $name, ".py")),
            &[$((
                $header,
                include_str!(concat!("../../../../../examples/udfs/", $name, "/", $header, ".py")),
            )),*],
        )
    };
}

const EXAMPLES: &[Example] = &[
    example!("Tile_Grid"),
    example!("Tile_Hillshade"),
    example!("Buffered_Points", "utils"),
    example!("City_Points"),
    example!("Country_Stats"),
];

/// The examples as packages (an error names the example whose meta.json is unusable).
pub fn packages() -> Result<Vec<UdfPackage>, String> {
    EXAMPLES.iter().map(build).collect()
}

fn build(example: &Example) -> Result<UdfPackage, String> {
    let (name, meta, code, headers) = *example;
    let err = |what: &str| format!("example {name}: meta.json: {what}");
    let meta: Value = serde_json::from_str(meta).map_err(|e| err(&e.to_string()))?;
    let udf = meta
        .pointer("/job_config/steps/0/udf")
        .ok_or_else(|| err("expected job_config.steps[0].udf"))?;
    let mut pkg = package_from_code(name, code).map_err(|e| err(&e.to_string()))?;
    pkg.entrypoint = udf
        .get("entrypoint")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(t) = udf.get("type").and_then(Value::as_str) {
        pkg.udf_type = t.to_string();
    }
    if let Some(Value::Object(m)) = udf.get("metadata") {
        pkg.metadata.clone_from(m);
    }
    if let Some(Value::Object(p)) = udf.get("parameters") {
        pkg.parameters.clone_from(p);
    }
    pkg.headers = headers
        .iter()
        .map(|(module, source)| Header {
            module_name: module.to_string(),
            source_code: source.to_string(),
            source_file: format!("{module}.py"),
        })
        .collect();
    Ok(pkg)
}
