//! Tile math: known values (from mercantile 1.2.1), edge cases and round trips.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use fused_core::tiles::{self, Tile};

fn t(x: u32, y: u32, z: u8) -> Tile {
    Tile { x, y, z }
}

fn err_names(result: fused_core::Result<impl std::fmt::Debug>, name: &str) {
    let msg = result.unwrap_err().to_string();
    assert!(msg.starts_with(&format!("invalid {name}:")), "{msg}");
}

#[test]
fn tile_known_values() {
    assert_eq!(
        tiles::tile(20.6852, 40.1222, 9, false).unwrap(),
        t(285, 193, 9)
    );
    assert_eq!(tiles::tile(-105.0, 40.0, 1, false).unwrap(), t(0, 0, 1));
    assert_eq!(tiles::tile(0.0, 0.0, 0, false).unwrap(), t(0, 0, 0));
    // Beyond the mercator limit (but not at the pole) clamps to the first/last row.
    assert_eq!(tiles::tile(0.0, 89.0, 4, false).unwrap(), t(8, 0, 4));
    assert_eq!(tiles::tile(0.0, -89.0, 4, false).unwrap(), t(8, 15, 4));
    // lng ±180 and beyond.
    assert_eq!(tiles::tile(-180.0, 0.0, 3, false).unwrap(), t(0, 4, 3));
    assert_eq!(tiles::tile(180.0, 0.0, 3, false).unwrap(), t(7, 4, 3));
    assert_eq!(tiles::tile(540.0, 0.0, 3, false).unwrap(), t(7, 4, 3));
    // Within EPSILON of the east edge: mercantile says x = 2**z, we keep the last tile.
    assert_eq!(
        tiles::tile(179.9999999999999, 0.0, 1, false).unwrap(),
        t(1, 1, 1)
    );
    // Zoom 30.
    let deep = tiles::tile(-0.0000001, -0.0000001, 30, false).unwrap();
    assert_eq!(deep, t((1 << 29) - 1, 1 << 29, 30));
}

#[test]
fn tile_refusals() {
    err_names(tiles::tile(f64::NAN, 0.0, 3, false), "lng");
    err_names(tiles::tile(0.0, f64::INFINITY, 3, false), "lat");
    err_names(tiles::tile(0.0, 90.0, 3, false), "lat");
    err_names(tiles::tile(0.0, -90.0, 3, false), "lat");
    err_names(tiles::tile(0.0, 89.9999999, 3, false), "lat"); // sin rounds to 1
    err_names(tiles::tile(0.0, 100.0, 3, false), "lat");
    err_names(tiles::tile(0.0, 100.0, 3, true), "lat"); // truncated to 90
    err_names(tiles::check_zoom(31), "zoom");
    err_names(tiles::check_zoom(-1), "zoom");
    err_names(Tile::new(4, 0, 2), "x");
    err_names(Tile::new(0, -1, 2), "y");
    err_names(Tile::new(0, 0, 31), "z");
    assert_eq!(Tile::new(3, 3, 2).unwrap(), t(3, 3, 2));
}

#[test]
fn tile_many_matches_tile() {
    let lngs = [-180.0, -12.5, 0.0, 33.3, 180.0];
    let lats = [-85.0, 10.0, 0.0, 60.1, 85.0];
    let (xs, ys) = tiles::tile_many(&lngs, &lats, 12, false).unwrap();
    for i in 0..lngs.len() {
        let one = tiles::tile(lngs[i], lats[i], 12, false).unwrap();
        assert_eq!((xs[i], ys[i]), (i64::from(one.x), i64::from(one.y)));
    }
    let msg = tiles::tile_many(&[0.0, 1.0], &[0.0, 90.0], 3, false)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("invalid lats[1]:"), "{msg}");
    let msg = tiles::tile_many(&[0.0, f64::NAN], &[0.0, 0.0], 3, false)
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("invalid lngs[1]:"), "{msg}");
    err_names(tiles::tile_many(&[0.0], &[], 3, false), "lats");
}

#[test]
fn bounds_ul_xy_bounds() {
    let b = tiles::bounds(t(486, 332, 10));
    assert_eq!(
        (b.west, b.south, b.east, b.north),
        (-9.140625, 53.120405283106564, -8.7890625, 53.33087298301705)
    );
    let ul = tiles::ul(t(486, 332, 10));
    assert_eq!((ul.lng, ul.lat), (-9.140625, 53.33087298301705));
    let xb = tiles::xy_bounds(t(486, 332, 10));
    assert_eq!(
        (xb.left, xb.bottom, xb.right, xb.top),
        (
            -1017529.7205322646,
            7005300.768279833,
            -978393.9620502543,
            7044436.526761843
        )
    );
    let world = tiles::bounds(t(0, 0, 0));
    assert_eq!((world.west, world.east), (-180.0, 180.0));
    assert!((world.north - 85.0511287798066).abs() < 1e-12);
}

#[test]
fn xy_and_lnglat() {
    let (x, y) = tiles::xy(-122.4194, 37.7749, false).unwrap();
    assert_eq!((x, y), (-13627665.271218073, 4547675.354340557));
    let ll = tiles::lnglat(-13627361.035049738, 4544761.334214327, false).unwrap();
    assert_eq!((ll.lng, ll.lat), (-122.41666700000002, 37.75420612082497));
    assert_eq!(tiles::xy(0.0, 90.0, false).unwrap().1, f64::INFINITY);
    assert_eq!(tiles::xy(0.0, -95.0, false).unwrap().1, f64::NEG_INFINITY);
    assert_eq!(
        tiles::xy(200.0, 0.0, true).unwrap(),
        tiles::xy(180.0, 0.0, false).unwrap()
    );
    err_names(tiles::xy(f64::NAN, 0.0, false), "lng");
    err_names(tiles::lnglat(0.0, f64::NAN, false), "y");
    // Round trip through metres.
    for &(lng, lat) in &[(-179.9, -85.0), (0.0, 0.0), (12.34, 56.78), (179.9, 85.0)] {
        let (x, y) = tiles::xy(lng, lat, false).unwrap();
        let back = tiles::lnglat(x, y, false).unwrap();
        assert!((back.lng - lng).abs() < 1e-9 && (back.lat - lat).abs() < 1e-9);
    }
}

#[test]
fn tile_of_its_own_corner_round_trips() {
    for z in [0u8, 1, 7, 15, 22, 30] {
        let max = (1u64 << z) - 1;
        for &(x, y) in &[(0, 0), (max / 3, max / 2), (max, max)] {
            let tile = t(x as u32, y as u32, z);
            let ul = tiles::ul(tile);
            assert_eq!(tiles::tile(ul.lng, ul.lat, z, false).unwrap(), tile);
            let b = tiles::bounds(tile);
            let ranges = tiles::tile_ranges(b.west, b.south, b.east, b.north, &[z], false);
            assert_eq!(
                tiles::count_tiles(b.west, b.south, b.east, b.north, &[z], false).unwrap(),
                1
            );
            assert_eq!(ranges.unwrap()[0].nth(0), tile);
        }
    }
}

#[test]
fn covering_tiles() {
    let world = tiles::tile_ranges(-180.0, -85.0, 180.0, 85.0, &[0, 1], false).unwrap();
    assert_eq!(world.len(), 2);
    assert_eq!(world[1].len(), 4);
    // Antimeridian: west part first, then east part.
    let (xs, ys) = tiles::tiles_xy(175.0, 5.0, -175.0, 10.0, 3, false).unwrap();
    assert_eq!((xs, ys), (vec![0, 7], vec![3, 3]));
    assert_eq!(
        tiles::count_tiles(-180.0, -90.0, 180.0, 90.0, &[30], false).unwrap(),
        1 << 60
    );
    // A degenerate box on a tile edge covers nothing, like mercantile.
    assert_eq!(
        tiles::count_tiles(0.0, 0.0, 0.0, 0.0, &[1], false).unwrap(),
        0
    );
    err_names(
        tiles::count_tiles(f64::NAN, 0.0, 1.0, 1.0, &[1], false),
        "west",
    );
    err_names(
        tiles::count_tiles(0.0, 0.0, 1.0, -95.0, &[1], false),
        "north",
    );
    err_names(
        tiles::tiles_xy(-180.0, -85.0, 180.0, 85.0, 20, false),
        "zoom",
    );
}

#[test]
fn bounding_tiles() {
    assert_eq!(
        tiles::bounding_tile(-92.5, 0.5, -90.5, 1.5, false).unwrap(),
        t(31, 63, 7)
    );
    assert_eq!(
        tiles::bounding_tile(-178.0, 84.0, -177.0, 85.0, false).unwrap(),
        t(0, 0, 5)
    );
    assert_eq!(
        tiles::bounding_tile(10.0, 10.0, 10.0, 10.0, false).unwrap(),
        t(141674268, 126723040, 28)
    );
    assert_eq!(
        tiles::bounding_tile(-10.0, -10.0, 10.0, 10.0, false).unwrap(),
        t(0, 0, 0)
    );
    assert_eq!(
        tiles::bounding_tile(1.0, 1.0, 2.0, 90.0, false).unwrap(),
        t(0, 0, 0)
    );
    err_names(
        tiles::bounding_tile(1.0, f64::NAN, 2.0, 3.0, false),
        "south",
    );
}

#[test]
fn relatives() {
    let tile = t(486, 332, 10);
    assert_eq!(tiles::parent(tile, None).unwrap(), Some(t(243, 166, 9)));
    assert_eq!(tiles::parent(tile, Some(0)).unwrap(), Some(t(0, 0, 0)));
    assert_eq!(tiles::parent(t(0, 0, 0), None).unwrap(), None);
    err_names(tiles::parent(tile, Some(10)), "zoom");
    assert_eq!(
        tiles::children(t(0, 0, 0), None).unwrap(),
        vec![t(0, 0, 1), t(1, 0, 1), t(1, 1, 1), t(0, 1, 1)]
    );
    let grand = tiles::children(t(0, 0, 0), Some(2)).unwrap();
    assert_eq!(grand.len(), 16);
    assert_eq!(
        &grand[..6],
        &[
            t(0, 0, 2),
            t(1, 0, 2),
            t(1, 1, 2),
            t(0, 1, 2),
            t(2, 0, 2),
            t(3, 0, 2)
        ]
    );
    assert_eq!(tiles::children(tile, Some(10)).unwrap(), vec![tile]);
    for child in tiles::children(tile, Some(14)).unwrap() {
        assert_eq!(tiles::parent(child, Some(10)).unwrap(), Some(tile));
    }
    err_names(tiles::children(tile, Some(9)), "zoom");
    err_names(tiles::children(t(0, 0, 30), None), "zoom");
    err_names(tiles::children(t(0, 0, 0), Some(30)), "zoom");
    assert_eq!(
        tiles::neighbors(t(0, 0, 2)),
        vec![t(0, 1, 2), t(1, 0, 2), t(1, 1, 2)]
    );
    assert_eq!(tiles::neighbors(tile).len(), 8);
    assert!(tiles::neighbors(t(0, 0, 0)).is_empty());
}

#[test]
fn quadkeys() {
    assert_eq!(tiles::quadkey(t(486, 332, 10)), "0313102310");
    assert_eq!(tiles::quadkey(t(0, 0, 0)), "");
    assert_eq!(tiles::quadkey_to_tile("").unwrap(), t(0, 0, 0));
    assert_eq!(
        tiles::quadkey_to_tile("0313102310").unwrap(),
        t(486, 332, 10)
    );
    let deep = t((1 << 30) - 1, 12345, 30);
    assert_eq!(tiles::quadkey_to_tile(&tiles::quadkey(deep)).unwrap(), deep);
    err_names(tiles::quadkey_to_tile("0124"), "quadkey");
    err_names(tiles::quadkey_to_tile(&"1".repeat(31)), "quadkey");
}

#[test]
fn simplify_merges_and_drops() {
    let set = [t(0, 0, 1), t(1, 0, 1), t(0, 1, 1), t(1, 1, 1), t(5, 5, 4)];
    assert_eq!(tiles::simplify(&set), vec![t(0, 0, 0)]);
    let partial = [
        t(0, 0, 2),
        t(1, 0, 2),
        t(0, 1, 2),
        t(1, 1, 2),
        t(3, 3, 2),
        t(7, 7, 3),
    ];
    assert_eq!(tiles::simplify(&partial), vec![t(0, 0, 1), t(3, 3, 2)]);
    assert_eq!(tiles::minmax(3).unwrap(), (0, 7));
    err_names(tiles::minmax(31), "zoom");
}

#[test]
fn tiles_outside_the_grid_have_mercantile_bounds() {
    // Values from mercantile 1.2.1, which computes them (with a FutureWarning).
    let off = tiles::LooseTile::new(1, 2, 1).unwrap();
    assert_eq!(off.in_grid(), None);
    let b = tiles::bounds_loose(off);
    assert_eq!(
        (b.west, b.south, b.east, b.north),
        (0.0, -89.7860070747368, 180.0, -85.0511287798066)
    );
    let b = tiles::xy_bounds_loose(off);
    assert_eq!(
        (b.left, b.bottom, b.right, b.top),
        (
            0.0,
            -40075016.68557849,
            20037508.342789244,
            -20037508.342789244
        )
    );
    let c = tiles::ul_loose(tiles::LooseTile::new(-1, 0, 2).unwrap());
    assert_eq!((c.lng, c.lat), (-270.0, 85.0511287798066));
    let b = tiles::bounds_loose(tiles::LooseTile::new(-3, 5, 2).unwrap());
    assert_eq!(
        (b.west, b.south, b.east, b.north),
        (-450.0, -89.7860070747368, -360.0, -88.97061836630759)
    );
    // In-grid indices are the tile, and agree with the strict functions.
    let inside = tiles::LooseTile::new(3, 1, 2).unwrap();
    assert_eq!(inside.in_grid(), Some(t(3, 1, 2)));
    assert_eq!(tiles::bounds_loose(inside), tiles::bounds(t(3, 1, 2)));
    // Zoom stays checked; indices are bounded so the arithmetic stays exact.
    err_names(tiles::LooseTile::new(0, 0, 31), "z");
    err_names(tiles::LooseTile::new(0, 0, -1), "z");
    err_names(tiles::LooseTile::new(1 << 53, 0, 3), "x");
    err_names(tiles::LooseTile::new(0, -(1 << 53), 3), "y");
}

#[test]
fn world_xy_is_mercantile_private_xy() {
    assert_eq!(
        tiles::world_xy(0.0, 86.0, false).unwrap(),
        (0.5, -0.033912871959081436)
    );
    assert_eq!(
        tiles::world_xy(10.0, -86.0, false).unwrap(),
        (0.5277777777777778, 1.0339128719590813)
    );
    assert_eq!(tiles::world_xy(-181.0, 0.0, true).unwrap(), (0.0, 0.5));
    err_names(tiles::world_xy(0.0, 90.0, false), "lat");
    err_names(tiles::world_xy(0.0, -90.0, false), "lat");
    err_names(tiles::world_xy(f64::NAN, 0.0, false), "lng");
}

/// Each refusal says what kind of argument was wrong (fused-py picks mercantile's exception
/// from it), with the same message as any invalid argument.
#[test]
fn tile_errors_carry_their_argument_kind() {
    use fused_core::{Error, TileArg};
    fn arg_of(result: fused_core::Result<impl std::fmt::Debug>) -> (TileArg, String) {
        match result.unwrap_err() {
            e @ Error::Tile { arg, .. } => (arg, e.to_string()),
            other => panic!("expected Error::Tile, got {other:?}"),
        }
    }
    let (arg, msg) = arg_of(tiles::check_zoom(31));
    assert_eq!(arg, TileArg::Zoom);
    assert_eq!(msg, "invalid zoom: expected an integer 0..=30, got 31");
    assert_eq!(arg_of(Tile::new(0, 0, 40)).0, TileArg::Zoom);
    let (arg, msg) = arg_of(Tile::new(4, 0, 2));
    assert_eq!(arg, TileArg::Index);
    assert_eq!(
        msg,
        "invalid x: expected an integer 0..=3 for zoom 2, got 4"
    );
    assert_eq!(
        arg_of(tiles::tile(0.0, 90.0, 3, false)).0,
        TileArg::Latitude
    );
    assert_eq!(
        arg_of(tiles::tile(f64::NAN, 0.0, 3, false)).0,
        TileArg::Other
    );
    assert_eq!(arg_of(tiles::quadkey_to_tile("0124")).0, TileArg::QuadKey);
    assert_eq!(arg_of(tiles::parent(t(1, 1, 2), Some(3))).0, TileArg::Zoom);
    assert_eq!(
        arg_of(tiles::lnglat(f64::INFINITY, 0.0, false)).0,
        TileArg::Other
    );
    assert_eq!(
        arg_of(tiles::bounding_tile(0.0, f64::NAN, 1.0, 1.0, false)).0,
        TileArg::Latitude
    );
}
