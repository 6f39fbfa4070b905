// The map environment: the globals a lens sees, its determinism, the freezing of the
// built-ins, the compilation of the user's code and the calls lens_worker.py makes.
// Part of the lens environment (see lens_values.js on how the files are put together);
// the function they form returns `lens(operation, text)`, the worker's one entry point.
//
// Line numbers: QuickJS names every script "<input>", so the environment is evaluated
// after more blank lines than the longest user code has lines. A stack frame whose line
// is within the user's code is the user's; any other is the environment's. The user's
// code starts on the second line of its wrapper (see compile), one line down.

const indirectEval = eval;
const functionText = Function.prototype.toString;
const dateText = RealDate.prototype.toString;
const freeze = Object.freeze;
const define = Object.defineProperty;
const describeProperty = Object.getOwnPropertyDescriptor;
const ownKeys = Reflect.ownKeys;
const prototypeOf = Object.getPrototypeOf;
const LINE_BREAK = /\r\n|[\n\r\u2028\u2029]/; // the line terminators QuickJS counts
const FRAME_LINE = /<input>:(\d+)\)?\s*$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const MAX_FRAMES = 32;
const MAX_MESSAGE = 10000;
const MAX_ID_LENGTH = 10000;
// Lexer errors a truncated line gives before the token that is really at fault (see
// syntaxColumn): a cut string, number, escape or regular expression.
const TRUNCATION = /^(unexpected end of|unexpected line terminator|invalid number|malformed|invalid escape)/;
// How many characters syntaxColumn may compile in all (the code before the line, once per
// character of the line) before it gives up on a column.
const PROBE_BUDGET = 20000000;

let settings = null; // the setup document lens_worker.py sends: now, limits, the code
let mapFunction = null;
let reduceFunction = null;
let mapLines = [];
let reduceLines = [];
let current = null; // the call in progress: see newCall
let baseGlobals = null;
let globalPrototype = null;

function newCall(lines, filename, mapping) {
  return {
    lines,
    filename,
    mapping, // output() is allowed
    outputs: [],
    size: 0,
    tooLarge: false,
    logs: [],
    logSize: 0,
    logsFull: false,
    value: undefined, // the reduce fold so far
  };
}

function wellFormed(text) {
  return text.replace(LONE_SURROGATE, "\ufffd");
}

// --- errors and line numbers ------------------------------------------------------------

// The frames of a QuickJS stack that lie in the user's code. QuickJS records lines only
// (2021-03-27 has no columns), so the column given is that of the line's first
// non-blank character, where an editor puts the caret for the statement.
function userFrames(stack, lines, filename) {
  const frames = [];
  for (const entry of String(stack).split("\n")) {
    const found = FRAME_LINE.exec(entry);
    if (!found) continue;
    const line = Number(found[1]) - 1;
    if (line < 1 || line > lines.length) continue;
    const code = lines[line - 1];
    frames.push({
      line,
      column: code.length - code.trimStart().length + 1,
      filename,
      code: wellFormed(code.trim().slice(0, 200)),
    });
    if (frames.length === MAX_FRAMES) break;
  }
  return frames;
}

function describe(thrown, call) {
  try {
    if (thrown instanceof Error) {
      return {
        type: errorName(thrown),
        message: wellFormed(String(thrown.message).slice(0, MAX_MESSAGE)),
        stack: userFrames(thrown.stack, call.lines, call.filename),
      };
    }
    // A thrown string or object has no stack to tell where it came from.
    const text = typeof thrown === "symbol" ? thrown.toString() : String(thrown);
    return { type: "Error", message: wellFormed(text.slice(0, MAX_MESSAGE)), stack: [] };
  } catch (ignored) {
    return { type: "Error", message: "an error that could not be described", stack: [] };
  }
}

function isOutOfMemory(thrown) {
  return thrown instanceof InternalError && thrown.message === "out of memory";
}

function memoryError(call) {
  return {
    type: "MemoryError",
    message:
      "the " + call.filename.slice(0, -3) + " call needed more than " + settings.memoryBytes +
      " bytes of memory",
    stack: [],
  };
}

// The first line of the user's code in the stack of the code calling console.
function callerLine() {
  const frames = userFrames(new Error().stack, current.lines, current.filename);
  return frames.length ? frames[0].line : null;
}

// --- globals ----------------------------------------------------------------------------

function output(id, value) {
  const call = current;
  if (call === null || !call.mapping) throw new Error("output() can only be called by map");
  const key = typeof id === "symbol" ? id.toString() : String(id);
  if (key === "") throw new TypeError("output(): the id is empty");
  if (key.length > MAX_ID_LENGTH) {
    throw new RangeError("output(): the id is longer than " + MAX_ID_LENGTH + " characters");
  }
  const text = "[" + stringify(key) + "," + encode(value, settings.maxDepth) + "]";
  call.size += text.length + 1;
  if (call.size > settings.maxOutput) {
    // Sticky: the record fails even if the lens catches this.
    call.tooLarge = true;
    call.outputs = [];
    throw new RangeError("the outputs of this record exceed " + settings.maxOutput + " bytes");
  }
  call.outputs.push(text);
}

const DROPPED_LOGS = '{"type":"warn","args":["(further console output of this record dropped)"],"line":null}';

function logger(type) {
  return (...args) => {
    const call = current;
    if (call === null || call.logsFull) return;
    const texts = args.map((arg) =>
      typeof arg === "string" ? stringify(wellFormed(arg)) : encodeLoosely(arg, settings.maxDepth),
    );
    const line = callerLine();
    const entry = '{"type":"' + type + '","args":[' + texts.join(",") + '],"line":' + line + "}";
    call.logSize += entry.length + 1;
    if (call.logSize > settings.maxLog) {
      call.logsFull = true;
      call.logs.push(DROPPED_LOGS);
    } else {
      call.logs.push(entry);
    }
  };
}

// Date() and Date.now() tell the build's time, fixed, so that a build gives the same
// records whenever it runs; a Date of given parts is the ordinary one.
function fixedDate(now) {
  const Date = function Date(...parts) {
    if (new.target === undefined) return apply(dateText, new RealDate(now), []);
    return Reflect.construct(RealDate, parts.length ? parts : [now], new.target);
  };
  define(Date, "length", { value: 7 });
  Date.prototype = RealDate.prototype;
  define(RealDate.prototype, "constructor", { value: Date, writable: true, configurable: true });
  Date.now = () => now;
  Date.parse = RealDate.parse;
  Date.UTC = RealDate.UTC;
  return Date;
}

function installGlobals(now) {
  const constant = (object, key, value) =>
    define(object, key, { value, writable: true, enumerable: false, configurable: true });
  constant(Math, "random", function random() {
    throw new Error("Lenses must be deterministic");
  });
  constant(globalThis, "Date", fixedDate(now));
  delete globalThis.__date_clock; // QuickJS's own clock, a way around the fixed Date
  constant(globalThis, "output", output);
  constant(globalThis, "console", {
    log: logger("log"),
    info: logger("info"),
    warn: logger("warn"),
    error: logger("error"),
  });
  constant(globalThis, "Markup", Markup);
  constant(globalThis, "global", globalThis);
  constant(globalThis, "Buffer", Uint8Array); // records' Buffers arrive as Uint8Arrays
}

// --- freezing the built-ins ---------------------------------------------------------------

// Reusing one context for every record of a build is what keeps a record's cost down
// (a fresh QuickJS context costs ~160 µs, measured); so nothing a record does may survive
// it. Every object reachable from the global object (the built-ins, the environment's own
// helpers) is frozen, as SES's lockdown does: a lens cannot change Object.prototype or
// JSON.stringify for the records after it, nor for the environment's own code. The global
// object stays extensible, for sloppy code's implicit globals, which `tidy` deletes after
// each call; its own properties become read-only.
function lockdown() {
  // Intrinsics that no global names, reachable only through instances.
  const queue = [
    globalThis,
    prototypeOf(function* () {}),
    prototypeOf(async function () {}),
    prototypeOf(async function* () {}),
    prototypeOf((function* () {})()),
    prototypeOf((async function* () {})()),
    prototypeOf([][Symbol.iterator]()),
    prototypeOf(new Map()[Symbol.iterator]()),
    prototypeOf(new Set()[Symbol.iterator]()),
    prototypeOf(""[Symbol.iterator]()),
    prototypeOf(/x/[Symbol.matchAll]("")),
  ];
  overridable(Object.prototype, [
    "constructor", "toString", "toLocaleString", "valueOf", "hasOwnProperty",
    "isPrototypeOf", "propertyIsEnumerable",
  ]);
  overridable(Function.prototype, ["toString"]);
  for (const error of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError,
    URIError, InternalError, AggregateError]) {
    overridable(error.prototype, ["constructor", "name", "message", "toString"]);
  }
  const seen = new Set();
  while (queue.length) {
    const object = queue.pop();
    if ((typeof object !== "object" && typeof object !== "function") || object === null) continue;
    if (seen.has(object)) continue;
    seen.add(object);
    queue.push(prototypeOf(object));
    for (const key of ownKeys(object)) {
      const property = describeProperty(object, key);
      if ("value" in property) queue.push(property.value);
      else queue.push(property.get, property.set);
    }
  }
  for (const object of seen) if (object !== globalThis) freeze(object);
  for (const key of ownKeys(globalThis)) {
    const property = describeProperty(globalThis, key);
    define(globalThis, key, "value" in property
      ? { writable: false, configurable: false }
      : { configurable: false });
  }
}

// A frozen prototype's data property cannot be shadowed by assignment on objects that
// inherit it (the "override mistake": `error.name = 'X'` would be ignored, or throw in
// strict code). These common ones become accessors whose setter gives the object an own
// property, as an unfrozen prototype would let assignment do.
function overridable(prototype, keys) {
  for (const key of keys) {
    const property = describeProperty(prototype, key);
    if (!property || !("value" in property)) continue;
    const value = property.value;
    define(prototype, key, {
      get() {
        return value;
      },
      set(replacement) {
        if (this === prototype) {
          throw new TypeError("Cannot assign to read only property '" + key + "' of a built-in");
        }
        if ((typeof this === "object" && this !== null) || typeof this === "function") {
          define(this, key, { value: replacement, writable: true, enumerable: true, configurable: true });
        }
      },
      enumerable: property.enumerable,
      configurable: false,
    });
  }
}

// After each call: delete the globals it created. False when that cannot be done (a
// permanent global, a changed prototype of the global object): the worker then replaces
// the context.
function tidy() {
  if (prototypeOf(globalThis) !== globalPrototype || !Object.isExtensible(globalThis)) {
    return false;
  }
  const keys = ownKeys(globalThis);
  if (keys.length === baseGlobals.size) return true;
  for (const key of keys) {
    if (!baseGlobals.has(key) && !Reflect.deleteProperty(globalThis, key)) return false;
  }
  return true;
}

// --- compiling the user's code ------------------------------------------------------------

function splitLines(code) {
  return code.split(LINE_BREAK);
}

// The user's code is the body of `function <name>(<params>)`. It starts on the line after
// the wrapper's, because QuickJS 2021-03-27 gives no line number for an error on a
// function's first line; every line number is given back one less. Compiled by
// (indirect) eval, after lockdown, so no code of the lens runs before the built-ins are
// frozen.
function compile(name, params, code, lines, filename) {
  const head = "(function " + name + "(" + params + ") {\n";
  const source = head + code + "\n})";
  let compiled;
  try {
    compiled = indirectEval(source);
  } catch (thrown) {
    return { error: compileError(thrown, head, lines, filename) };
  }
  // Code that closes the function early (`}); ...; (function () {`) compiles to
  // something else than the function of the whole source.
  if (typeof compiled !== "function" || apply(functionText, compiled, []) !== source.slice(1, -1)) {
    return {
      error: {
        type: "SyntaxError",
        message: "the code must be the body of a function: it closes the function early",
        line: null,
        column: null,
        filename,
      },
    };
  }
  freeze(compiled); // no state kept on the function between records
  if (compiled.prototype) freeze(compiled.prototype);
  return { compiled };
}

function compileError(thrown, head, lines, filename) {
  const report = { type: "SyntaxError", message: "", line: null, column: null, filename };
  if (!(thrown instanceof Error)) {
    report.type = "Error";
    report.message = wellFormed(String(thrown));
    return report;
  }
  report.type = errorName(thrown);
  report.message = wellFormed(String(thrown.message));
  const found = FRAME_LINE.exec(String(thrown.stack).split("\n")[0]);
  if (!found) return report;
  let line = Math.max(Number(found[1]) - 1, 1);
  if (line > lines.length) {
    // The wrapper's closing line: the code ended too early (an unclosed block or string).
    // Said at the end of its last line that is not blank.
    line = lines.length;
    while (line > 1 && lines[line - 1].trim() === "") line--;
    report.message += " (at the end of the code)";
    report.column = lines[line - 1].length + 1;
  } else if (thrown instanceof SyntaxError) {
    report.column = syntaxColumn(head, lines, line, thrown.message);
  }
  report.line = line;
  return report;
}

// QuickJS reports a syntax error's line only. Its column is found by compiling the code
// up to ever longer prefixes of that line (followed by blank lines, so that an error at
// the end of the prefix shows on a later line): the shortest prefix that fails on that
// line ends at the offending token's first character. A cut string, number or escape
// fails early for a reason of its own: those are passed over.
function syntaxColumn(head, lines, line, message) {
  const before = head + lines.slice(0, line - 1).map((text) => text + "\n").join("");
  const text = lines[line - 1];
  if (before.length * text.length > PROBE_BUDGET) return null;
  for (let end = 1; end <= text.length; end++) {
    try {
      indirectEval(before + text.slice(0, end) + "\n\n\n");
    } catch (thrown) {
      const found = FRAME_LINE.exec(String(thrown.stack).split("\n")[0]);
      if (found && Number(found[1]) - 1 === line) {
        if (thrown.message === message || !TRUNCATION.test(thrown.message)) return end;
      }
      continue;
    }
    return null; // a prefix that compiles: not code this search understands
  }
  return null;
}

function setup(text) {
  settings = parse(text);
  installGlobals(settings.now);
  lockdown();
  baseGlobals = new Set(ownKeys(globalThis));
  globalPrototype = prototypeOf(globalThis);
  mapLines = splitLines(settings.map);
  const map = compile("map", "path, data", settings.map, mapLines, "map.js");
  if (map.error) return stringify({ ok: false, error: map.error });
  mapFunction = map.compiled;
  if (typeof settings.reduce === "string") {
    reduceLines = splitLines(settings.reduce);
    const reduce = compile("reduce", "left, right", settings.reduce, reduceLines, "reduce.js");
    if (reduce.error) return stringify({ ok: false, error: reduce.error });
    reduceFunction = reduce.compiled;
  }
  settings.map = settings.reduce = null;
  return stringify({ ok: tidy() });
}

// --- the calls ----------------------------------------------------------------------------

// A reply marked "!" asks the worker for a fresh context before the next call.
function reply(text, clean) {
  return clean ? text : "!" + text;
}

function mapReply(call, error) {
  current = null;
  let clean = tidy();
  if (error !== null && error.type === "MemoryError") clean = false;
  if (call.tooLarge) {
    error = {
      type: "OutputTooLarge",
      message: "the outputs of this record exceed " + settings.maxOutput + " bytes",
      stack: [],
    };
  }
  return reply(
    '{"outputs":[' + call.outputs.join(",") + '],"logs":[' + call.logs.join(",") +
      '],"error":' + (error === null ? "null" : stringify(error)) + "}",
    clean,
  );
}

function runMap(text) {
  const call = (current = newCall(mapLines, "map.js", true));
  let error = null;
  try {
    const item = parse(text);
    mapFunction(item.path, revive(item.data));
  } catch (thrown) {
    if (isOutOfMemory(thrown)) {
      call.outputs = [];
      error = memoryError(call);
    } else {
      error = describe(thrown, call);
    }
  }
  return mapReply(call, error);
}

function reduceReply(call, value, error) {
  current = null;
  const clean = tidy() && !(error !== null && error.type === "MemoryError");
  return reply('{"value":' + value + ',"error":' + (error === null ? "null" : stringify(error)) + "}", clean);
}

function reduceFailure(call, thrown) {
  return reduceReply(call, "null", isOutOfMemory(thrown) ? memoryError(call) : describe(thrown, call));
}

// reduce folds pairwise, one call per pair, so that each call has the time limit to itself:
// "reduce-start" with the first value, "reduce-step" with each next one ("" while all is
// well, else the failure's reply), "reduce-end" for the reply with the result.
function reduceStart(text) {
  const call = (current = newCall(reduceLines, "reduce.js", false));
  try {
    call.value = reviveText(text);
  } catch (thrown) {
    return reduceFailure(call, thrown);
  }
  return "";
}

function reduceStep(text) {
  const call = current;
  try {
    call.value = reduceFunction(call.value, reviveText(text));
  } catch (thrown) {
    return reduceFailure(call, thrown);
  }
  return "";
}

function reduceEnd() {
  const call = current;
  let value;
  try {
    value = encode(call.value, settings.maxDepth);
  } catch (thrown) {
    return reduceFailure(call, thrown);
  }
  if (value.length > settings.maxOutput) {
    return reduceReply(call, "null", {
      type: "OutputTooLarge",
      message: "the reduced value exceeds " + settings.maxOutput + " bytes",
      stack: [],
    });
  }
  return reduceReply(call, value, null);
}

// After a limit stopped a call where no catch could see it (a timeout: QuickJS's
// interrupt is uncatchable; or an error escaping the environment's own handlers): the
// reply for that call, from what the worker knows of the limit and what the call logged.
// No outputs are kept: where a limit strikes is not deterministic.
function abandon(text) {
  const fault = parse(text);
  const call = current === null ? newCall(mapLines, "map.js", true) : current;
  const error = { type: fault.type, message: fault.message, stack: userFrames(fault.stack, call.lines, call.filename) };
  if (!call.mapping) return reduceReply(call, "null", error);
  call.outputs = [];
  call.tooLarge = false;
  return mapReply(call, error);
}

return function lens(operation, text) {
  switch (operation) {
    case "map":
      return runMap(text);
    case "reduce-start":
      return reduceStart(text);
    case "reduce-step":
      return reduceStep(text);
    case "reduce-end":
      return reduceEnd();
    case "abandon":
      return abandon(text);
    case "tidy":
      current = null;
      return tidy() ? "clean" : "dirty";
    case "setup":
      return setup(text);
  }
  throw new Error("unknown operation " + operation);
};
