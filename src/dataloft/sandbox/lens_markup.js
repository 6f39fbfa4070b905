// Markup: helpers for JsonML, the markup-as-JSON form Pigeon Optics records use
// ("PigeonMark"): an element is ["tag", {attributes}?, ...children], a text node a string.
// Part of the lens environment (see lens_values.js on how the files are put together).

const Markup = (() => {
  const VOID_ELEMENTS = new Set([
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
  ]);
  // What toHTML will write as a tag or attribute name: anything else could break out of
  // the tag it is written in, so it is refused rather than escaped.
  const TAG_NAME = /^[A-Za-z][A-Za-z0-9:._-]*$/;
  const ATTRIBUTE_NAME = /^[^\s"'<>/=\u0000-\u001f\u007f]+$/;
  const COMPOUND = /^(\*|[A-Za-z][A-Za-z0-9_-]*)?((?:[#.][A-Za-z0-9_-]+)*)$/;

  function isElement(node) {
    return isArray(node) && typeof node[0] === "string" && node[0] !== "";
  }

  function isAttributes(value) {
    return typeof value === "object" && value !== null && !isArray(value);
  }

  function firstChild(element) {
    return isAttributes(element[1]) ? 2 : 1;
  }

  function childNodes(node) {
    return isElement(node) ? node.slice(firstChild(node)) : [];
  }

  function attribute(node, name) {
    if (!isElement(node) || !isAttributes(node[1])) return undefined;
    return hasOwn(node[1], name) ? node[1][name] : undefined;
  }

  function classList(node) {
    const value = attribute(node, "class");
    return typeof value === "string" ? value.split(/\s+/).filter((name) => name !== "") : [];
  }

  function text(node) {
    if (typeof node === "string") return node;
    if (typeof node === "number") return String(node);
    return childNodes(node).map(text).join("");
  }

  function isPigeonMark(node) {
    if (typeof node === "string") return true;
    if (!isElement(node)) return false;
    const start = firstChild(node);
    if (start === 2) {
      const attributes = node[1];
      for (const key of objectKeys(attributes)) {
        const value = attributes[key];
        if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
          return false;
        }
      }
    }
    for (let i = start; i < node.length; i++) if (!isPigeonMark(node[i])) return false;
    return true;
  }

  function element(node, what) {
    if (!isElement(node)) throw new TypeError("Markup.set." + what + ": not an element");
    return node;
  }

  function setAttribute(node, name, value) {
    element(node, "attribute");
    if (!isAttributes(node[1])) node.splice(1, 0, {});
    if (value === undefined || value === null) delete node[1][name];
    else node[1][name] = value;
    return node;
  }

  function setChildren(node, children) {
    element(node, "children");
    const start = firstChild(node);
    node.splice(start, node.length - start, ...children);
    return node;
  }

  // --- select ---

  function unsupported(selector) {
    return new SyntaxError("Markup.select: unsupported selector " + stringify(selector.trim()));
  }

  // A selector list: "a, b" is [a, b]; "div > p.note" is [{compound div}, ">", {p.note}].
  function parseSelector(css) {
    if (typeof css !== "string" || css.trim() === "") {
      throw new SyntaxError("Markup.select: empty selector");
    }
    return css.split(",").map((one) => {
      const parts = one.trim().replace(/\s*>\s*/g, " > ").split(/\s+/);
      const steps = [];
      for (const part of parts) {
        const match = part === ">" ? null : COMPOUND.exec(part);
        if (part === ">" && steps.length && steps[steps.length - 1] !== ">") {
          steps.push(">");
          continue;
        }
        if (part === "" || !match) throw unsupported(one);
        const compound = { tag: undefined, id: undefined, classes: [] };
        if (match[1] && match[1] !== "*") compound.tag = match[1].toLowerCase();
        for (const piece of match[2].match(/[#.][^#.]+/g) || []) {
          if (piece[0] === "#") compound.id = piece.slice(1);
          else compound.classes.push(piece.slice(1));
        }
        steps.push(compound);
      }
      if (!steps.length || steps[steps.length - 1] === ">") throw unsupported(one);
      return steps;
    });
  }

  function matchesCompound(node, compound) {
    if (compound.tag !== undefined && node[0].toLowerCase() !== compound.tag) return false;
    if (compound.id !== undefined && attribute(node, "id") !== compound.id) return false;
    if (compound.classes.length) {
      const classes = classList(node);
      return compound.classes.every((name) => classes.includes(name));
    }
    return true;
  }

  // Does steps[0..last] match, with steps[last] on `node` and ancestors[0..depth) above it?
  function matches(steps, last, node, ancestors, depth) {
    if (!matchesCompound(node, steps[last])) return false;
    if (last === 0) return true;
    if (steps[last - 1] === ">") {
      return depth > 0 && matches(steps, last - 2, ancestors[depth - 1], ancestors, depth - 1);
    }
    for (let up = depth - 1; up >= 0; up--) {
      if (matches(steps, last - 1, ancestors[up], ancestors, up)) return true;
    }
    return false;
  }

  // The elements of `node` (itself included) that a selector matches, in document order.
  function select(node, css) {
    const selectors = parseSelector(css);
    const found = [];
    const ancestors = [];
    (function visit(current) {
      if (!isElement(current)) return;
      const depth = ancestors.length;
      if (selectors.some((steps) => matches(steps, steps.length - 1, current, ancestors, depth))) {
        found.push(current);
      }
      ancestors.push(current);
      for (let i = firstChild(current); i < current.length; i++) visit(current[i]);
      ancestors.pop();
    })(node);
    return found;
  }

  // --- toHTML ---

  function escapeText(value) {
    return value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function escapeAttribute(value) {
    return escapeText(value).replace(/"/g, "&quot;");
  }

  function html(node, out) {
    if (typeof node === "string") {
      out.push(escapeText(node));
    } else if (typeof node === "number" || typeof node === "bigint") {
      out.push(String(node));
    } else if (node === null || node === undefined || typeof node === "boolean") {
      // Nothing, as JSX-like markup leaves out empty children.
    } else if (isElement(node)) {
      const name = node[0];
      if (!TAG_NAME.test(name)) {
        throw new TypeError("Markup.toHTML: invalid tag name " + stringify(name));
      }
      out.push("<", name);
      const start = firstChild(node);
      if (start === 2) {
        for (const key of objectKeys(node[1])) {
          if (!ATTRIBUTE_NAME.test(key)) {
            throw new TypeError("Markup.toHTML: invalid attribute name " + stringify(key));
          }
          const value = node[1][key];
          if (value === undefined || value === null || value === false) continue;
          out.push(" ", key);
          if (value !== true) out.push('="', escapeAttribute(String(value)), '"');
        }
      }
      out.push(">");
      if (start === node.length && VOID_ELEMENTS.has(name.toLowerCase())) return;
      for (let i = start; i < node.length; i++) html(node[i], out);
      out.push("</", name, ">");
    } else if (isArray(node)) {
      for (const child of node) html(child, out); // a list of nodes
    } else {
      throw new TypeError("Markup.toHTML: not markup");
    }
  }

  return {
    isPigeonMark,
    get: {
      type: (node) => (isElement(node) ? "element" : typeof node === "string" ? "text" : undefined),
      name: (node) => (isElement(node) ? node[0] : undefined),
      id: (node) => attribute(node, "id"),
      classList,
      attribute,
      attributes: (node) =>
        isElement(node) && isAttributes(node[1]) ? Object.assign({}, node[1]) : {},
      children: (node) => childNodes(node).filter(isElement),
      childNodes,
      text,
    },
    set: {
      name(node, name) {
        element(node, "name")[0] = String(name);
        return node;
      },
      attribute: setAttribute,
      attributes(node, attributes) {
        element(node, "attributes");
        const copy = Object.assign({}, attributes);
        if (isAttributes(node[1])) node[1] = copy;
        else node.splice(1, 0, copy);
        return node;
      },
      id: (node, id) => setAttribute(node, "id", id),
      classList: (node, names) => setAttribute(node, "class", [...names].join(" ")),
      children: setChildren,
      text: (node, value) => setChildren(node, [String(value)]),
    },
    select,
    toHTML(node) {
      const out = [];
      html(node, out);
      return out.join("");
    },
  };
})();
