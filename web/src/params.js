// Parameter widgets generated from a UDF's typed parameter schema (name -> spec, the
// grammar of fused_core::params) and, when known, its signature's defaults.

const TILE_SPECS = new Set(["bounds", "bbox", "tilegdf", "tilexyz", "viewportgdf"]);

/** The spec without `optional[...]` / `union[..., none]` wrappers, lower-cased. */
export function baseSpec(spec) {
  let s = String(spec || "any").trim().toLowerCase();
  for (;;) {
    const m = /^optional\[(.*)\]$/.exec(s);
    if (!m) break;
    s = m[1].trim();
  }
  const u = /^union\[(.*)\]$/.exec(s);
  if (u) {
    const members = u[1].split(",").map((x) => x.trim()).filter((x) => x !== "none");
    if (members.length === 1) s = members[0];
  }
  return s;
}

/** The widget kind of a spec: int, float, bool, str, date, datetime, json, text. */
export function widgetKind(spec) {
  const s = baseSpec(spec);
  if (s === "int") return "int";
  if (s === "float") return "float";
  if (s === "bool") return "bool";
  if (s === "str") return "str";
  if (s === "date") return "date";
  if (s === "datetime") return "datetime";
  if (/^(list|dict|tuple|set|iterable)(\[|$)/.test(s)) return "json";
  return "text";
}

/** Whether a parameter receives the map tile (Tile mode) rather than a value. */
export function isTileParameter(name, spec, mode) {
  if (mode !== "tile") return false;
  return name === "bounds" || name === "bbox" || TILE_SPECS.has(baseSpec(spec));
}

/** Check a widget's text; returns an error message or null. */
export function validate(kind, text) {
  if (text === "") return null; // not given: the UDF's default
  if (kind === "int" && !/^[+-]?\d+$/.test(text.trim())) return "expected an integer";
  if (kind === "float" && !Number.isFinite(Number(text))) return "expected a number";
  if (kind === "json") {
    try {
      JSON.parse(text);
    } catch (e) {
      return `expected JSON: ${e.message}`;
    }
  }
  if (kind === "date" && !/^\d{4}-\d{2}-\d{2}$/.test(text)) return "expected a date YYYY-MM-DD";
  return null;
}

function defaultText(kind, value) {
  if (value === undefined || value === null) return "";
  if (kind === "json") return JSON.stringify(value);
  if (kind === "bool") return value ? "true" : "false";
  return String(value);
}

/**
 * Render widgets into `container`.
 * params: [{name, spec, default?, required?}], values: {name: text}, onChange(values).
 * Values are strings as the HTTP endpoints take them; an empty string means "default".
 */
export function renderWidgets(container, params, values, mode, onChange) {
  container.replaceChildren();
  const current = { ...values };
  const visible = params.filter((p) => !isTileParameter(p.name, p.spec, mode));
  if (visible.length === 0) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = "No parameters.";
    container.append(none);
    return;
  }
  for (const p of visible) {
    const kind = widgetKind(p.spec);
    const row = document.createElement("div");
    row.className = "param";
    row.dataset.param = p.name;
    const label = document.createElement("label");
    const id = `param-${p.name}`;
    label.htmlFor = id;
    label.textContent = p.name;
    const type = document.createElement("span");
    type.className = "spec";
    type.textContent = p.spec;
    label.append(" ", type);
    const err = document.createElement("div");
    err.className = "param-error";
    let input;
    const dflt = defaultText(kind, p.default);
    const given = current[p.name];
    if (kind === "bool") {
      input = document.createElement("input");
      input.type = "checkbox";
      const text = given !== undefined && given !== "" ? given : dflt;
      input.checked = text === "true";
    } else if (kind === "json") {
      input = document.createElement("textarea");
      input.rows = 2;
      input.value = given ?? "";
      input.placeholder = dflt || (p.required ? "required (JSON)" : "default");
    } else {
      input = document.createElement("input");
      input.type = { int: "number", float: "number", date: "date", datetime: "datetime-local" }[kind] || "text";
      if (kind === "int") input.step = "1";
      if (kind === "float") input.step = "any";
      // date pickers show no placeholder: they start at the default itself
      const picker = kind === "date" || kind === "datetime";
      input.value = given ?? (picker ? dflt.slice(0, kind === "date" ? 10 : 19) : "");
      input.placeholder = dflt || (p.required ? "required" : "default");
    }
    input.id = id;
    input.name = p.name;
    let committed = given ?? ""; // the value the layer was last drawn with
    const commit = () => {
      let text;
      if (kind === "bool") text = input.checked ? "true" : "false";
      else text = input.value;
      if (kind === "datetime" && text && text.length === 16) text += ":00";
      const problem = validate(kind, text);
      err.textContent = problem ? `${p.name}: ${problem}` : "";
      input.classList.toggle("invalid", Boolean(problem));
      if (problem) return;
      // Enter commits, and the change event that follows it must not redraw a second time
      if (text === committed) return;
      committed = text;
      if (text === "") delete current[p.name];
      else current[p.name] = text;
      onChange({ ...current });
    };
    input.addEventListener("change", commit);
    if (kind !== "bool") {
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && kind !== "json") commit();
      });
    }
    row.append(label, input, err);
    container.append(row);
  }
}
