"""UDFs shared by the fan-out tests of every engine (`test_map.py`, `test_dask.py`)."""

from __future__ import annotations

import fused


@fused.udf
def double(n: int = 0):
    print(f"n={n}")
    return n * 2


@fused.udf
def frame(n: int, label: str = "a"):
    import pandas as pd

    return pd.DataFrame({"v": [n, n + 1], "label": [label, label]})


@fused.udf
def points(n: int):
    import geopandas as gpd
    import shapely

    return gpd.GeoDataFrame({"n": [n]}, geometry=[shapely.Point(n, n)], crs="EPSG:3857")
