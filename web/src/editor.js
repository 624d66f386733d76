// The code editor (CodeMirror 6 with Python), built as its own module (assets/editor.js) and
// imported by the page only when a UDF's code is shown: a share link never loads it, and the
// map starts without parsing it first.

import { EditorView, basicSetup } from "codemirror";
import { python } from "@codemirror/lang-python";

/** An editor in `host`'s shadow root. */
export function createEditor(host) {
  // The editor lives in a shadow root: CodeMirror then styles it with constructed
  // stylesheets (adoptedStyleSheets) instead of a <style> element, which the page's CSP
  // (style-src 'self', no inline styles) would block.
  const shadow = host.attachShadow({ mode: "open" });
  const mount = document.createElement("div");
  mount.style.height = "100%";
  shadow.append(mount);
  return new EditorView({
    doc: "",
    extensions: [basicSetup, python(), EditorView.theme({ "&": { height: "100%" }, ".cm-scroller": { overflow: "auto" } })],
    parent: mount,
    root: shadow,
  });
}
