@fused.udf
def udf(region: str = "all"):
    """A File UDF returning a GeoDataFrame of a few cities (points, EPSG:4326)."""
    import geopandas as gpd
    from shapely.geometry import Point

    cities = [
        ("San Francisco", "americas", -122.4194, 37.7749),
        ("New York", "americas", -74.0060, 40.7128),
        ("Sao Paulo", "americas", -46.6333, -23.5505),
        ("London", "europe", -0.1276, 51.5072),
        ("Paris", "europe", 2.3522, 48.8566),
        ("Nairobi", "africa", 36.8219, -1.2921),
        ("Tokyo", "asia", 139.6917, 35.6895),
        ("Sydney", "oceania", 151.2093, -33.8688),
    ]
    if region != "all":
        cities = [c for c in cities if c[1] == region]
    return gpd.GeoDataFrame(
        {"name": [c[0] for c in cities], "region": [c[1] for c in cities]},
        geometry=[Point(c[2], c[3]) for c in cities],
        crs="EPSG:4326",
    )
