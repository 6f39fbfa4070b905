// Record values across the sandbox boundary: tagged JSON (dataloft.core.values'
// convention, {"type": ..., "data": ...}) to JavaScript values and back.
//
// This file is one part of the lens environment: lens_worker.py concatenates the three
// lens_*.js files into the body of one strict function, so the names declared here are
// private to the environment (no global holds them) and shared by the other two files.
//
// Every built-in object is frozen before the user's code is compiled (lens_environment.js),
// so the prototype methods used here cannot have been replaced by a lens.

const RealDate = Date; // captured before lens_environment.js installs the fixed-clock Date
const dateTime = RealDate.prototype.getTime;
const setValues = Set.prototype.values;
const mapEntries = Map.prototype.entries;
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const objectKeys = Object.keys;
const stringify = JSON.stringify;
const parse = JSON.parse;
const apply = Reflect.apply;
const hasOwnProperty = Object.prototype.hasOwnProperty;
const hasOwn = (object, key) => apply(hasOwnProperty, object, [key]);

// Beyond this magnitude a Number is no longer exact, and every double beyond it is an
// integer: it goes out in exponent form so that Python reads a float (a plain run of
// digits would come back as an int, and reach JavaScript clients as a BigInt).
const EXACT_IN_DOUBLE = 2 ** 53;
const MAX_DATE_MS = 8.64e15;
const DIGITS = /^-?[0-9]+$/;
const UNDEFINED_TAG = '{"type":"constant","data":"undefined"}';

// --- tagged JSON in -------------------------------------------------------------------

// The value a parsed tagged-JSON document stands for. The parsed document is fresh for
// every call, so it is converted in place: the lens gets its own copy to mutate.
function revive(value) {
  if (typeof value !== "object" || value === null) return value;
  if (isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i]);
    return value;
  }
  const keys = objectKeys(value);
  // JSON.parse made every key an own data property (a "__proto__" key too), so these
  // assignments never reach a setter.
  for (let i = 0; i < keys.length; i++) value[keys[i]] = revive(value[keys[i]]);
  return keys.length === 2 && hasOwn(value, "type") && hasOwn(value, "data")
    ? untag(value)
    : value;
}

// The same shapes dataloft.core.values.untag accepts; anything else stays an object.
function untag(tagged) {
  const data = tagged.data;
  switch (tagged.type) {
    case "Buffer":
      if (isArray(data) && data.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
        return new Uint8Array(data);
      }
      break;
    case "Set":
      if (isArray(data)) return new Set(data);
      break;
    case "Map":
      if (isArray(data) && data.every((pair) => isArray(pair) && pair.length === 2)) {
        return new Map(data);
      }
      break;
    case "Date":
      if (typeof data === "number" && Math.abs(data) <= MAX_DATE_MS) return new RealDate(data);
      break;
    case "URL":
      // QuickJS has no URL class: a URL reaches the lens as its text.
      if (typeof data === "string") return data;
      break;
    case "BigInteger":
      if (typeof data === "string" && DIGITS.test(data)) return BigInt(data);
      break;
    case "constant":
      if (data === "undefined") return undefined;
      if (data === "infinity") return Infinity;
      if (data === "-infinity") return -Infinity;
      if (data === "NaN") return NaN;
      break;
  }
  return tagged;
}

function reviveText(text) {
  return revive(parse(text));
}

// --- JavaScript values out ------------------------------------------------------------

// Tagged JSON text of a value a lens gives back (an output, a reduce result). What the
// structured clone of Pigeon Optics' V8 sandbox would refuse (functions, symbols, values
// nested deeper than dataloft keeps, which includes circular ones) is a TypeError or a
// RangeError at the call that passed it. Written piece by piece and joined once: a string
// built with += is copied at every step in QuickJS.
function encode(value, maxDepth) {
  const pieces = [];
  write(value, 0, maxDepth, pieces, false);
  return pieces.join("");
}

// The same for console arguments, which must never fail: what cannot be sent is
// described in a string instead.
function encodeLoosely(value, maxDepth) {
  const pieces = [];
  try {
    write(value, 0, maxDepth, pieces, true);
  } catch (error) {
    return stringify("[a value that could not be logged]");
  }
  return pieces.join("");
}

function write(value, depth, maxDepth, out, loose) {
  switch (typeof value) {
    case "string":
      out.push(stringify(value)); // escapes lone surrogates, which Python then refuses
      return;
    case "number":
      out.push(numberText(value));
      return;
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "undefined":
      out.push(UNDEFINED_TAG);
      return;
    case "bigint":
      out.push('{"type":"BigInteger","data":"' + value.toString() + '"}');
      return;
    case "symbol":
    case "function":
      if (loose) {
        out.push(stringify(typeof value === "symbol" ? value.toString() : "[Function]"));
        return;
      }
      throw new TypeError("a " + typeof value + " cannot be output (not a record value)");
  }
  if (value === null) {
    out.push("null");
    return;
  }
  if (depth >= maxDepth) {
    if (loose) {
      out.push('"[nested too deeply]"');
      return;
    }
    throw new RangeError("value nested deeper than " + maxDepth + " levels (or circular)");
  }
  const deeper = depth + 1;
  if (isArray(value)) {
    out.push("[");
    for (let i = 0; i < value.length; i++) {
      if (i) out.push(",");
      write(value[i], deeper, maxDepth, out, loose);
    }
    out.push("]");
  } else if (isView(value) || value instanceof ArrayBuffer) {
    // Every binary view goes out as the bytes it spans: records hold Buffers only.
    const bytes = isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value);
    out.push('{"type":"Buffer","data":[' + bytes.join(",") + "]}");
  } else if (value instanceof Set) {
    out.push('{"type":"Set","data":[');
    let first = true;
    for (const item of apply(setValues, value, [])) {
      if (!first) out.push(",");
      first = false;
      write(item, deeper, maxDepth, out, loose);
    }
    out.push("]}");
  } else if (value instanceof Map) {
    out.push('{"type":"Map","data":[');
    let first = true;
    for (const [key, item] of apply(mapEntries, value, [])) {
      out.push(first ? "[" : ",[");
      first = false;
      write(key, deeper, maxDepth, out, loose);
      out.push(",");
      write(item, deeper, maxDepth, out, loose);
      out.push("]");
    }
    out.push("]}");
  } else if (value instanceof RealDate) {
    const ms = apply(dateTime, value, []);
    if (ms !== ms) {
      if (loose) {
        out.push('"Invalid Date"');
        return;
      }
      throw new RangeError("an invalid Date cannot be output");
    }
    out.push('{"type":"Date","data":' + ms + "}");
  } else if (loose && value instanceof Error) {
    out.push(stringify(errorName(value) + ": " + String(value.message)));
  } else {
    out.push("{");
    const keys = objectKeys(value);
    for (let i = 0; i < keys.length; i++) {
      out.push(i ? "," : "", stringify(keys[i]), ":");
      write(value[keys[i]], deeper, maxDepth, out, loose);
    }
    out.push("}");
  }
}

function numberText(number) {
  if (number !== number) return '{"type":"constant","data":"NaN"}';
  if (number === Infinity) return '{"type":"constant","data":"infinity"}';
  if (number === -Infinity) return '{"type":"constant","data":"-infinity"}';
  if (number > EXACT_IN_DOUBLE || number < -EXACT_IN_DOUBLE) return number.toExponential();
  return String(number);
}

// The name of an error's class, as the error report gives it.
function errorName(error) {
  const constructor = error.constructor;
  const name = typeof constructor === "function" ? constructor.name : undefined;
  return typeof name === "string" && name ? name : "Error";
}
