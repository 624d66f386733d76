// The default basemap: a plain MapLibre style that works offline (no remote tiles, glyphs
// or sprites): a background, and a graticule every 10 degrees (30 for the thicker lines)
// generated here, so the map has a frame of reference with no data behind it.

function graticule(step) {
  const features = [];
  for (let lng = -180; lng <= 180; lng += step) {
    const coords = [];
    for (let lat = -85; lat <= 85; lat += 5) coords.push([lng, lat]);
    features.push({ type: "Feature", properties: { major: lng % 30 === 0 }, geometry: { type: "LineString", coordinates: coords } });
  }
  for (let lat = -80; lat <= 80; lat += step) {
    const coords = [];
    for (let lng = -180; lng <= 180; lng += 5) coords.push([lng, lat]);
    features.push({ type: "Feature", properties: { major: lat % 30 === 0 }, geometry: { type: "LineString", coordinates: coords } });
  }
  return { type: "FeatureCollection", features };
}

export const BACKGROUND = "#eef1f4";

export function offlineStyle() {
  return {
    version: 8,
    name: "fused-offline",
    sources: { graticule: { type: "geojson", data: graticule(10) } },
    layers: [
      { id: "background", type: "background", paint: { "background-color": BACKGROUND } },
      {
        id: "graticule",
        type: "line",
        source: "graticule",
        paint: {
          "line-color": "#c9d1da",
          "line-width": ["case", ["get", "major"], 1, 0.5],
        },
      },
    ],
  };
}
