// `fused:vizConfig` -> MapLibre paint properties. Fixed colours ([r, g, b, a?]) and the
// `colorContinuous` / `colorCategories` functions are translated to MapLibre expressions;
// anything else (deck.gl `@@=` accessors) falls back to the readable defaults.

// CARTOColors palettes (the names vizConfig uses).
export const PALETTES = {
  Teal: ["#d1eeea", "#a8dbd9", "#85c4c9", "#68abb8", "#4f90a6", "#3b738f", "#2a5674"],
  Sunset: ["#f3e79b", "#fac484", "#f8a07e", "#eb7f86", "#ce6693", "#a059a0", "#5c53a5"],
  Burg: ["#ffc6c4", "#f4a3a8", "#e38191", "#cc607d", "#ad466c", "#8b3058", "#672044"],
  BluYl: ["#f7feae", "#b7e6a5", "#7ccba2", "#46aea0", "#089099", "#00718b", "#045275"],
  Magenta: ["#f3cbd3", "#eaa9bd", "#dd88ac", "#ca699d", "#b14d8e", "#91357d", "#6c2167"],
  Emrld: ["#d3f2a3", "#97e196", "#6cc08b", "#4c9b82", "#217a79", "#105965", "#074050"],
  Bold: ["#7F3C8D", "#11A579", "#3969AC", "#F2B701", "#E73F74", "#80BA5A", "#E68310", "#008695", "#CF1C90", "#f97b72", "#4b4b8f", "#A5AA99"],
  Vivid: ["#E58606", "#5D69B1", "#52BCA3", "#99C945", "#CC61B0", "#24796C", "#DAA51B", "#2F8AC4", "#764E9F", "#ED645A", "#CC3A8E", "#A5AA99"],
  Prism: ["#5F4690", "#1D6996", "#38A6A5", "#0F8554", "#73AF48", "#EDAD08", "#E17C05", "#CC503E", "#94346E", "#6F4070", "#994E95", "#666666"],
  Safe: ["#88CCEE", "#CC6677", "#DDCC77", "#117733", "#332288", "#AA4499", "#44AA99", "#999933", "#882255", "#661100", "#6699CC", "#888888"],
  Pastel: ["#66C5CC", "#F6CF71", "#F89C74", "#DCB0F2", "#87C55F", "#9EB9F3", "#FE88B1", "#C9DB74", "#8BE0A4", "#B497E7", "#D3B484", "#B3B3B3"],
};

export const DEFAULTS = {
  fill: "rgba(232, 93, 36, 0.35)",
  line: "#c2410c",
  point: "#e85d24",
  lineWidth: 1.5,
  pointRadius: 5,
  opacity: 1,
};

function rgba(c) {
  if (!Array.isArray(c) || c.length < 3 || !c.slice(0, 4).every((v) => typeof v === "number")) return null;
  const [r, g, b] = c;
  const a = c.length > 3 ? c[3] / 255 : 1;
  return `rgba(${r}, ${g}, ${b}, ${Math.round(a * 1000) / 1000})`;
}

function palette(spec, n) {
  let colors = spec.colors;
  if (typeof colors === "string") colors = PALETTES[colors];
  if (!Array.isArray(colors) || colors.length === 0) colors = PALETTES.Teal;
  colors = colors.map((c) => (typeof c === "string" ? c : rgba(c))).filter(Boolean);
  if (!n || n === colors.length) return colors;
  // n colours sampled evenly
  const out = [];
  for (let i = 0; i < n; i++) out.push(colors[Math.round((i * (colors.length - 1)) / Math.max(n - 1, 1))]);
  return out;
}

/** One colour accessor -> a MapLibre colour value or expression (null: not understood). */
export function colorExpression(accessor) {
  const fixed = rgba(accessor);
  if (fixed) return fixed;
  if (!accessor || typeof accessor !== "object" || Array.isArray(accessor)) return null;
  const fn = accessor["@@function"];
  const attr = accessor.attr;
  if (typeof attr !== "string" || !attr) return null;
  const fallback = rgba(accessor.nullColor) || "rgba(160, 160, 160, 0.6)";
  if (fn === "colorContinuous") {
    const domain = accessor.domain;
    if (!Array.isArray(domain) || domain.length < 2 || !domain.every((d) => typeof d === "number")) return null;
    const steps = Number.isInteger(accessor.steps) && accessor.steps > 1 ? accessor.steps : 7;
    const colors = palette(accessor, steps);
    const [lo, hi] = [domain[0], domain[domain.length - 1]];
    if (lo === hi) return colors[colors.length - 1];
    const stops = [];
    colors.forEach((c, i) => stops.push(lo + ((hi - lo) * i) / (colors.length - 1), c));
    // numbers only; anything else gets the null colour
    const value = ["get", attr];
    const ramp = ["interpolate", ["linear"], ["to-number", value, lo], ...(hi < lo ? reversePairs(stops) : stops)];
    return ["case", ["==", ["typeof", value], "number"], ramp, fallback];
  }
  if (fn === "colorCategories") {
    const domain = accessor.domain;
    if (!Array.isArray(domain) || domain.length === 0) return null;
    const colors = palette(accessor);
    const match = ["match", ["to-string", ["get", attr]]];
    const seen = new Set();
    domain.forEach((d, i) => {
      const key = String(d);
      if (seen.has(key)) return;
      seen.add(key);
      match.push(key, colors[i % colors.length]);
    });
    match.push(rgba(accessor.othersColor) || fallback);
    return match;
  }
  return null;
}

function reversePairs(stops) {
  const pairs = [];
  for (let i = 0; i < stops.length; i += 2) pairs.push([stops[i], stops[i + 1]]);
  pairs.sort((a, b) => a[0] - b[0]);
  return pairs.flat();
}

/** Paint settings of a vector layer from a vizConfig (`vectorLayer`, else the tile layer). */
export function vectorStyle(vizConfig) {
  const v = (vizConfig && typeof vizConfig === "object" && (vizConfig.vectorLayer || vizConfig.tileLayer)) || {};
  const fill = colorExpression(v.getFillColor);
  const line = colorExpression(v.getLineColor);
  const opacity = typeof v.opacity === "number" ? Math.min(Math.max(v.opacity, 0), 1) : DEFAULTS.opacity;
  const filled = v.filled !== false;
  const stroked = v.stroked !== false;
  return {
    fillColor: fill || DEFAULTS.fill,
    fillOpacity: filled ? opacity : 0,
    lineColor: line || DEFAULTS.line,
    lineOpacity: stroked ? opacity : 0,
    lineWidth: typeof v.lineWidthMinPixels === "number" ? Math.max(v.lineWidthMinPixels, 0.5) : DEFAULTS.lineWidth,
    pointColor: fill || line || DEFAULTS.point,
    pointRadius:
      typeof v.pointRadiusMinPixels === "number" ? Math.max(v.pointRadiusMinPixels, 1) : DEFAULTS.pointRadius,
    pointOpacity: opacity,
    fromConfig: Boolean(fill || line),
  };
}

/** Raster opacity from a vizConfig's `rasterLayer`. */
export function rasterOpacity(vizConfig) {
  const r = (vizConfig && vizConfig.rasterLayer) || {};
  return typeof r.opacity === "number" ? Math.min(Math.max(r.opacity, 0), 1) : 1;
}
