// The upload page: files and folders dropped (or chosen) start uploading at once, each
// through tus to the server's resumable uploads (web/uploads.py), a chunk per request.
// Paused, or cut off by a dropped connection, a file goes on from the byte the server has
// (it asks with HEAD) once resumed or back online. When every file has arrived, "Commit"
// names them all, by the sha256 each upload became, in ONE new version.
//
// Everything a user or the server wrote reaches the page as text (textContent), never as
// markup.

const TUS = "1.0.0";
const OFFSET_STREAM = "application/offset+octet-stream";
const AT_ONCE = 3; // files uploading at the same time
const LONGEST_WAIT = 30000; // ms between two tries while the server cannot be reached

const form = document.getElementById("upload");
const csrf = form.elements.csrf.value;
const collection = form.dataset.collection;
const chunkBytes = Number(form.dataset.chunk);
const maxSize = Number(form.dataset.max);
const commitUrl = form.dataset.commit;
const table = document.getElementById("queue");
const rows = table.tBodies[0];
const button = document.getElementById("commit");
const status = document.getElementById("status");
const drop = document.getElementById("drop");

const items = []; // {file, path, row, bar, state, note, action, url, offset, digest, xhr}
let running = 0;
let committing = false; // the user asked for the commit: it is made once all arrived
let committed = false;

// --- sizes and names -----------------------------------------------------------------------

function size(bytes) {
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function destination(relative) {
  const folder = form.elements.folder.value.replace(/^\/+|\/+$/g, "");
  const path = relative.replace(/^\/+/, "");
  return folder ? `${folder}/${path}` : path;
}

// --- the list of files ---------------------------------------------------------------------

function cell(row, text, className) {
  const td = row.insertCell();
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function add(file, relative) {
  // The path inside the folder dropped or chosen; the commit puts it under "Into the
  // folder" as that field says when the commit is made.
  const path = relative.replace(/^\/+/, "");
  if (items.some((item) => item.path === path)) return; // dropped twice: once is enough
  const row = rows.insertRow();
  cell(row, path);
  cell(row, size(file.size), "num");
  const bar = document.createElement("progress");
  bar.max = Math.max(file.size, 1);
  bar.value = 0;
  bar.setAttribute("aria-label", `Progress of ${path}`);
  row.insertCell().append(bar);
  const note = cell(row, "");
  const action = document.createElement("button");
  action.type = "button";
  action.className = "small";
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "small secondary";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", `Remove ${path}`);
  row.insertCell().append(action, " ", remove);
  const item = { file, path, row, bar, note, action, remove, state: "", url: null, offset: 0, digest: null, xhr: null };
  action.addEventListener("click", () => toggle(item));
  remove.addEventListener("click", () => forget(item));
  items.push(item);
  table.hidden = false;
  if (file.size > maxSize) {
    show(item, "failed", `larger than this server takes (${size(maxSize)})`);
  } else {
    show(item, "queued");
  }
}

const LABELS = {
  queued: ["waiting its turn", "Pause"],
  uploading: ["uploading", "Pause"],
  paused: ["paused", "Resume"],
  waiting: ["connection lost: goes on once back", "Pause"],
  done: ["arrived", null],
  failed: ["failed", "Retry"],
};

function show(item, state, detail) {
  item.state = state;
  const [label, action] = LABELS[state];
  item.note.textContent = detail ? `${label}: ${detail}` : label;
  item.row.dataset.state = state;
  item.action.hidden = action === null || (state === "failed" && item.file.size > maxSize);
  // Not while its bytes are on the way (pause first), nor once committed.
  item.remove.hidden = state === "uploading" || committed;
  if (action) {
    item.action.textContent = action;
    item.action.setAttribute("aria-label", `${action} ${item.path}`);
  }
  summarise();
}

function toggle(item) {
  if (item.state === "uploading" || item.state === "queued" || item.state === "waiting") {
    const xhr = item.xhr;
    show(item, "paused");
    if (xhr) xhr.abort();
  } else if (item.state === "paused" || item.state === "failed") {
    show(item, "queued");
    pump();
  }
}

// Take a file off the list; the bytes it sent are dropped on the server at once.
function forget(item) {
  const at = items.indexOf(item);
  if (at < 0 || item.state === "uploading") return;
  items.splice(at, 1);
  item.row.remove();
  item.state = "removed";
  if (item.url) send("DELETE", item.url, {}, null).catch(() => {}); // else it expires
  table.hidden = items.length === 0;
  summarise();
  if (committing) commit();
}

function summarise() {
  const arrived = items.filter((item) => item.state === "done").length;
  const failed = items.filter((item) => item.state === "failed").length;
  const paused = items.filter((item) => item.state === "paused").length;
  const waiting = items.some((item) => item.state === "waiting");
  button.disabled = items.length === 0 || committed || (committing && arrived < items.length);
  if (committed) return;
  const parts = [`${arrived} of ${items.length} files arrived`];
  if (failed) parts.push(`${failed} failed`);
  if (paused) parts.push(`${paused} paused`);
  if (waiting) parts.push("waiting for the connection to come back");
  if (committing && arrived < items.length) parts.push("the commit follows once all have arrived");
  status.textContent = items.length ? parts.join("; ") + "." : "Nothing chosen yet.";
}

// --- tus -----------------------------------------------------------------------------------

// One request; resolves with the XHR on a 2xx. Rejects with {network} when the server
// could not be reached, {aborted} when paused, {status, message} for an HTTP error.
function send(method, url, headers, body, onProgress, item) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Tus-Resumable", TUS);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    if (onProgress) xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject({ status: xhr.status, message: reason(xhr) });
    });
    xhr.addEventListener("error", () => reject({ network: true }));
    xhr.addEventListener("timeout", () => reject({ network: true }));
    xhr.addEventListener("abort", () => reject({ aborted: true }));
    if (item) item.xhr = xhr;
    xhr.send(body);
  });
}

// What an error page (or a JSON error) says, in a line.
function reason(xhr) {
  const type = xhr.getResponseHeader("Content-Type") || "";
  if (type.startsWith("text/html")) {
    const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    const said = page.querySelector("main p");
    if (said) return said.textContent.trim();
  }
  return `the server answered ${xhr.status}`;
}

function learn(item, xhr) {
  item.offset = Number(xhr.getResponseHeader("Upload-Offset"));
  item.digest = xhr.getResponseHeader("Loft-Blob-Sha256") || item.digest;
  item.bar.value = item.offset;
}

async function upload(item) {
  const file = item.file;
  const progress = (loaded) => {
    item.bar.value = item.offset + loaded;
  };
  if (item.url === null) {
    const headers = { "Upload-Length": String(file.size), "Upload-Metadata": `filename ${base64(item.path)}` };
    // A small file goes whole with the request that creates its upload.
    const first = file.size <= chunkBytes ? file : null;
    if (first) headers["Content-Type"] = OFFSET_STREAM;
    const made = await send("POST", collection, headers, first, progress, item);
    item.url = made.getResponseHeader("Location");
    learn(item, made);
  } else {
    // Resuming: the server says how far the bytes got.
    learn(item, await send("HEAD", item.url, {}, null, null, item));
  }
  while (item.offset < file.size) {
    const body = file.slice(item.offset, item.offset + chunkBytes);
    const headers = { "Upload-Offset": String(item.offset), "Content-Type": OFFSET_STREAM };
    learn(item, await send("PATCH", item.url, headers, body, progress, item));
  }
  if (!item.digest) learn(item, await send("HEAD", item.url, {}, null, null, item));
}

function backOnline(wait) {
  return new Promise((resolve) => {
    const done = () => {
      window.removeEventListener("online", done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, navigator.onLine ? wait : LONGEST_WAIT);
    window.addEventListener("online", done);
  });
}

async function run(item) {
  let wait = 1000;
  while (item.state === "queued" || item.state === "waiting") {
    show(item, "uploading");
    try {
      await upload(item);
      item.xhr = null;
      show(item, "done");
      return;
    } catch (error) {
      item.xhr = null;
      if (error.aborted || item.state === "paused") return;
      if (error.network) {
        show(item, "waiting");
        await backOnline(wait);
        wait = Math.min(wait * 2, LONGEST_WAIT);
        if (item.state === "waiting") item.state = "queued";
      } else if (error.status === 404 && item.url !== null) {
        item.url = null; // the upload expired: start it again
        item.offset = 0;
        item.state = "queued";
      } else if (error.status === 409) {
        item.state = "queued"; // the offset moved: ask again where it stands
      } else {
        show(item, "failed", error.message);
        return;
      }
    }
  }
}

function pump() {
  while (running < AT_ONCE) {
    const next = items.find((item) => item.state === "queued");
    if (!next) break;
    running += 1;
    // run() marks it "uploading" before it first waits: the next turn picks another.
    run(next).finally(() => {
      running -= 1;
      pump();
      if (committing) commit();
    });
  }
  summarise();
}

// --- the commit ----------------------------------------------------------------------------

async function commit() {
  if (committed || items.length === 0 || items.some((item) => item.state !== "done")) {
    summarise();
    return;
  }
  committed = true;
  button.disabled = true;
  status.textContent = "Committing…";
  const body = JSON.stringify({
    message: form.elements.message.value,
    changes: items.map((item) => ({ op: "put_file", path: destination(item.path), sha256: item.digest })),
  });
  for (let wait = 1000; ; wait = Math.min(wait * 2, LONGEST_WAIT)) {
    try {
      const answer = await send("POST", commitUrl, { "Content-Type": "application/json" }, body);
      const made = JSON.parse(answer.responseText);
      status.textContent = `Version ${made.version} made.`;
      window.removeEventListener("beforeunload", holdOn);
      window.location.assign(made.url);
      return;
    } catch (error) {
      if (!error.network) {
        committed = false;
        committing = false;
        status.textContent = `The commit failed: ${error.message}`;
        button.disabled = false;
        return;
      }
      status.textContent = "Connection lost: the commit goes on once back online.";
      await backOnline(wait);
    }
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  committing = true;
  commit();
});

// --- choosing files ------------------------------------------------------------------------

function readAll(reader) {
  // readEntries gives a folder's entries a batch at a time, until an empty one.
  return new Promise((resolve, reject) => {
    const entries = [];
    const next = () =>
      reader.readEntries((batch) => {
        if (batch.length === 0) resolve(entries);
        else {
          entries.push(...batch);
          next();
        }
      }, reject);
    next();
  });
}

async function walk(entry) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    add(file, entry.fullPath);
  } else if (entry.isDirectory) {
    const children = await readAll(entry.createReader());
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) await walk(child);
  }
}

async function dropped(transfer) {
  const entries = [];
  const loose = [];
  for (const item of transfer.items) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
    else loose.push(item.getAsFile());
  }
  for (const entry of entries) await walk(entry);
  for (const file of loose) if (file) add(file, file.name);
  pump();
}

function chosen(input) {
  for (const file of input.files) add(file, file.webkitRelativePath || file.name);
  input.value = "";
  pump();
}

for (const input of [form.elements["pick-files"], form.elements["pick-folder"]]) {
  input.addEventListener("change", () => chosen(input));
}
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  dropped(event.dataTransfer).catch((error) => {
    status.textContent = `Could not read what was dropped: ${error.message || error}`;
  });
});

// Leaving the page would lose the uploads' place in the list (their bytes stay on the
// server until they expire): ask first.
function holdOn(event) {
  if (!committed && items.some((item) => item.state !== "failed")) event.preventDefault();
}
window.addEventListener("beforeunload", holdOn);
