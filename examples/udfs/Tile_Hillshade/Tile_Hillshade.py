@fused.udf
def udf(bounds: fused.types.Bounds = None, wavelength_deg: float = 0.05):
    """A Tile UDF returning a 256x256 uint8 raster: a synthetic shaded terrain sampled at
    the pixel centres of the tile (Web Mercator rows, so it lines up on a map)."""
    import numpy as np

    west, south, east, north = bounds
    size = 256
    lng = west + (np.arange(size) + 0.5) * (east - west) / size
    # Sample rows evenly in Web Mercator y, as map tiles are laid out.
    y_n = np.log(np.tan(np.pi / 4 + np.radians(north) / 2))
    y_s = np.log(np.tan(np.pi / 4 + np.radians(south) / 2))
    y = y_n + (np.arange(size) + 0.5) * (y_s - y_n) / size
    lat = np.degrees(2 * np.arctan(np.exp(y)) - np.pi / 2)
    lon2d, lat2d = np.meshgrid(lng, lat)
    k = 2 * np.pi / wavelength_deg
    elevation = np.sin(lon2d * k) * np.cos(lat2d * k)
    dzdx = np.gradient(elevation, axis=1)
    dzdy = np.gradient(elevation, axis=0)
    shade = (dzdx - dzdy) / np.sqrt(1 + dzdx**2 + dzdy**2)
    span = shade.max() - shade.min()
    scaled = (shade - shade.min()) / span if span > 0 else np.zeros_like(shade)
    return (scaled * 255).astype("uint8")
