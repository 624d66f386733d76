"""Helpers for Buffered_Points (a header module: `import utils` in the UDF)."""

METERS_PER_DEGREE = 111_320.0


def buffer_degrees(meters: float) -> float:
    """An approximate buffer distance in degrees for a distance in metres."""
    return meters / METERS_PER_DEGREE


def sample_points(west: float, south: float, east: float, north: float, n: int):
    """n points on the diagonal of a bounding box."""
    from shapely.geometry import Point

    return [Point(west + (east - west) * (i + 0.5) / n, south + (north - south) * (i + 0.5) / n)
            for i in range(n)]
