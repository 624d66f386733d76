@fused.udf
def udf(bbox: fused.types.TileGDF = None, n: int = 3, radius_m: float = 250.0):
    """A Tile UDF using its `utils.py` header: n buffered points along the tile diagonal."""
    import geopandas as gpd

    import utils

    west, south, east, north = bbox.total_bounds
    points = utils.sample_points(west, south, east, north, n)
    circles = [p.buffer(utils.buffer_degrees(radius_m)) for p in points]
    return gpd.GeoDataFrame(
        {"i": list(range(n)), "x": int(bbox.x.iloc[0]), "y": int(bbox.y.iloc[0]), "z": int(bbox.z.iloc[0])},
        geometry=circles,
        crs="EPSG:4326",
    )
