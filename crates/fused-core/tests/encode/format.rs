//! Format names and negotiation: preference lists, legacy `dtype_out`_*, extensions,
//! defaults, and impossible requests naming the choices.

use super::*;

fn raster_u8(shape: &[usize]) -> CanonicalResult {
    CanonicalResult::Raster {
        data: (0..shape.iter().product::<usize>())
            .map(|i| i as u8)
            .collect(),
        dtype: Dtype::U8,
        shape: shape.to_vec(),
        bounds: None,
    }
}

fn choose(result: &CanonicalResult, req: FormatRequest) -> fused_core::Result<Format> {
    choose_format(result, &req)
}

#[test]
fn format_names_round_trip() {
    let cases = [
        (
            "parquet",
            Format::Parquet,
            "parquet",
            "application/vnd.apache.parquet",
        ),
        (
            "geojson",
            Format::GeoJson,
            "geojson",
            "application/geo+json",
        ),
        ("json", Format::Json, "json", "application/json"),
        ("csv", Format::Csv, "csv", "text/csv; charset=utf-8"),
        (
            "arrow",
            Format::Arrow,
            "arrow",
            "application/vnd.apache.arrow.file",
        ),
        (
            "feather",
            Format::Arrow,
            "arrow",
            "application/vnd.apache.arrow.file",
        ),
        (
            "mvt",
            Format::Mvt,
            "mvt",
            "application/vnd.mapbox-vector-tile",
        ),
        (
            "pbf",
            Format::Mvt,
            "mvt",
            "application/vnd.mapbox-vector-tile",
        ),
        ("png", Format::Png, "png", "image/png"),
        ("tiff", Format::Tiff, "tiff", "image/tiff"),
        ("TIF", Format::Tiff, "tiff", "image/tiff"),
        (" NPY ", Format::Npy, "npy", "application/octet-stream"),
    ];
    for (name, f, canonical, ct) in cases {
        assert_eq!(Format::from_name(name), Some(f), "{name}");
        assert_eq!(f.name(), canonical);
        assert_eq!(f.extension(), canonical);
        assert_eq!(f.content_type(), ct);
    }
    assert_eq!(Format::from_name("raw"), None);
    assert_eq!(Format::from_name("jpeg"), None);
    assert_eq!(Format::from_name(""), None);
}

#[test]
fn defaults_per_result_kind() {
    let none = FormatRequest::default();
    assert_eq!(choose(&sample_table(), none).unwrap(), Format::Parquet);
    let tile = FormatRequest {
        is_tile: true,
        ..none
    };
    assert_eq!(choose(&sample_table(), tile).unwrap(), Format::Parquet);
    assert_eq!(choose(&raster_u8(&[2, 2]), none).unwrap(), Format::Png);
    assert_eq!(
        choose(&CanonicalResult::Json(json!(1)), none).unwrap(),
        Format::Json
    );
    let bytes = CanonicalResult::Bytes {
        data: b"<p>hi</p>".to_vec(),
        content_type: "text/html".into(),
    };
    // Bytes pass through whatever was asked.
    let asked = FormatRequest {
        format: Some("png"),
        extension: Some("mvt"),
        ..none
    };
    assert_eq!(choose(&bytes, asked).unwrap(), Format::Raw);
    let e = encode(&bytes, Format::Raw, None).unwrap();
    assert_eq!(e.body, b"<p>hi</p>");
    assert_eq!(e.content_type, "text/html");
}

#[test]
fn preference_list_takes_the_first_that_fits() {
    let t = sample_table();
    let req = |format, is_tile| FormatRequest {
        format: Some(format),
        is_tile,
        ..Default::default()
    };
    assert_eq!(
        choose(&t, req("png, GeoJSON,csv", false)).unwrap(),
        Format::GeoJson
    );
    assert_eq!(
        choose(&t, req("mvt,geojson", false)).unwrap(),
        Format::GeoJson
    );
    assert_eq!(choose(&t, req("mvt,geojson", true)).unwrap(), Format::Mvt);
    assert_eq!(
        choose(&t, req("bogus,feather", false)).unwrap(),
        Format::Arrow
    );
    let r = raster_u8(&[2, 2]);
    assert_eq!(
        choose(&r, req("geojson,tif,png", false)).unwrap(),
        Format::Tiff
    );
    // format= wins over the legacy parameters and the extension.
    let all = FormatRequest {
        format: Some("csv"),
        dtype_out_vector: Some("geojson"),
        extension: Some("mvt"),
        is_tile: true,
        ..Default::default()
    };
    assert_eq!(choose(&t, all).unwrap(), Format::Csv);
}

#[test]
fn legacy_dtype_out_and_extension() {
    let t = sample_table();
    let r = raster_u8(&[2, 2]);
    let legacy = FormatRequest {
        dtype_out_vector: Some("csv"),
        dtype_out_raster: Some("tiff"),
        extension: Some("json"),
        ..Default::default()
    };
    assert_eq!(choose(&t, legacy).unwrap(), Format::Csv);
    assert_eq!(choose(&r, legacy).unwrap(), Format::Tiff);
    // dtype_out_raster does not apply to tables: the extension decides.
    let raster_only = FormatRequest {
        dtype_out_raster: Some("tiff"),
        extension: Some("geojson"),
        ..Default::default()
    };
    assert_eq!(choose(&t, raster_only).unwrap(), Format::GeoJson);
    // ... and dtype_out_vector is ignored for simple JSON values.
    let v = FormatRequest {
        dtype_out_vector: Some("csv"),
        ..Default::default()
    };
    assert_eq!(
        choose(&CanonicalResult::Json(json!({})), v).unwrap(),
        Format::Json
    );
    let ext = |e, is_tile| FormatRequest {
        extension: Some(e),
        is_tile,
        ..Default::default()
    };
    assert_eq!(choose(&t, ext("mvt", true)).unwrap(), Format::Mvt);
    assert_eq!(choose(&t, ext(".pbf", true)).unwrap(), Format::Mvt);
    assert_eq!(choose(&r, ext("npy", false)).unwrap(), Format::Npy);
    // Empty values count as absent.
    let empty = FormatRequest {
        format: Some(""),
        dtype_out_vector: Some(" "),
        extension: Some(""),
        ..Default::default()
    };
    assert_eq!(choose(&t, empty).unwrap(), Format::Parquet);
}

fn unsupported(err: Error) -> (String, String, Vec<String>, String) {
    let message = err.to_string();
    match err {
        Error::UnsupportedFormat {
            requested,
            kind,
            choices,
            ..
        } => (requested, kind, choices, message),
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
}

#[test]
fn impossible_requests_name_the_choices() {
    let t = sample_table();
    let req = FormatRequest {
        format: Some("png"),
        ..Default::default()
    };
    let (requested, kind, choices, message) = unsupported(choose(&t, req).unwrap_err());
    assert_eq!(requested, "format=png");
    assert_eq!(kind, "table");
    assert_eq!(choices, ["parquet", "geojson", "json", "csv", "arrow"]);
    assert_eq!(
        message,
        "cannot return a table result as format=png; formats for a table: parquet, geojson, \
         json, csv, arrow"
    );

    let mvt = FormatRequest {
        extension: Some("mvt"),
        ..Default::default()
    };
    let (requested, _, choices, message) = unsupported(choose(&t, mvt).unwrap_err());
    assert_eq!(requested, "extension .mvt");
    assert!(!choices.contains(&"mvt".to_string()));
    assert!(message.contains("mvt needs a tile request"), "{message}");

    let tile = FormatRequest {
        format: Some("png,npy"),
        is_tile: true,
        ..Default::default()
    };
    let (_, _, choices, _) = unsupported(choose(&t, tile).unwrap_err());
    assert_eq!(
        choices,
        ["parquet", "geojson", "json", "csv", "arrow", "mvt"]
    );

    let r = raster_u8(&[2, 2]);
    let legacy = FormatRequest {
        dtype_out_raster: Some("geojson"),
        ..Default::default()
    };
    let (requested, kind, choices, _) = unsupported(choose(&r, legacy).unwrap_err());
    assert_eq!(
        (requested.as_str(), kind.as_str()),
        ("dtype_out_raster=geojson", "raster")
    );
    assert_eq!(choices, ["png", "tiff", "npy"]);

    let j = CanonicalResult::Json(json!([1, 2]));
    let ext = FormatRequest {
        extension: Some("png"),
        ..Default::default()
    };
    let (_, kind, choices, _) = unsupported(choose(&j, ext).unwrap_err());
    assert_eq!((kind.as_str(), choices), ("json", vec!["json".to_string()]));

    let unknown = FormatRequest {
        format: Some("xml"),
        ..Default::default()
    };
    let (requested, ..) = unsupported(choose(&t, unknown).unwrap_err());
    assert_eq!(requested, "format=xml");

    // encode() refuses the same way.
    let (requested, kind, ..) = unsupported(encode(&t, Format::Png, None).unwrap_err());
    assert_eq!((requested.as_str(), kind.as_str()), ("png", "table"));
    let (_, _, _, message) = unsupported(encode(&t, Format::Mvt, None).unwrap_err());
    assert!(message.contains("mvt needs a tile request"), "{message}");
    unsupported(encode(&r, Format::GeoJson, None).unwrap_err());
    unsupported(encode(&j, Format::Csv, None).unwrap_err());
}
