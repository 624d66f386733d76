@fused.udf
def udf(bounds: fused.types.Bounds = None, cells: int = 4):
    """A Tile UDF: splits its tile into cells x cells polygons, built from the tile bounds."""
    import geopandas as gpd
    from shapely.geometry import box

    west, south, east, north = bounds
    dx, dy = (east - west) / cells, (north - south) / cells
    polys, ids = [], []
    for i in range(cells):
        for j in range(cells):
            polys.append(box(west + i * dx, south + j * dy, west + (i + 1) * dx, south + (j + 1) * dy))
            ids.append(f"{i}-{j}")
    return gpd.GeoDataFrame({"cell": ids}, geometry=polys, crs="EPSG:4326")
