"""The quickstart `make run` runs: each bundled example UDF in File and Tile mode."""

from pathlib import Path

import fused

HERE = Path(__file__).resolve().parent / "udfs"


def show(title, result):
    print(f"\n=== {title}")
    if hasattr(result, "shape") and hasattr(result, "dtype"):  # a raster
        print(
            f"array shape={result.shape} dtype={result.dtype} min={result.min()} max={result.max()}"
        )
    else:
        print(result)


# File mode: no tile given.
stats = fused.load(HERE / "Country_Stats")
show("Country_Stats (File, n=3)", fused.run(stats, n=3))
show(
    "Country_Stats (File, strings converted by annotation)",
    stats.run_local(n="2", min_population_m="300"),
)

cities = fused.load(HERE / "City_Points")
show("City_Points (File)", cities.run_local(region="europe"))

# Tile mode: x/y/z, lat/lng/z and a bbox.
grid = fused.load(HERE / "Tile_Grid")
show(
    "Tile_Grid (Tile x=2411 y=3079 z=13, 2x2 cells)", fused.run(grid, x=2411, y=3079, z=13, cells=2)
)

hillshade = fused.load(HERE / "Tile_Hillshade")
show(
    "Tile_Hillshade (Tile lat=37.1 lng=-122.0 z=13)",
    fused.run(hillshade, lat=37.1, lng=-122.0, z=13),
)

buffered = fused.load(HERE / "Buffered_Points")
show(
    "Buffered_Points (Tile bbox=[-77.34, 38.41, -77.17, 38.55], utils.py header)",
    fused.run(buffered, bbox=[-77.34375, 38.41055, -77.167968, 38.54816]),
)
print(f"\nfused {fused.__version__}: all examples ran.")
