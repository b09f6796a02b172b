// facecore demo page: plain JavaScript, no libraries, no network besides
// this server's own API. Every text that comes from the server or the user is
// written with textContent, never as HTML.
"use strict";

const KEY_STORAGE = "facecore-api-key";
const $ = (id) => document.getElementById(id);

/** The calibrated meaning of a score, from the spec's threshold table. */
const BANDS = [
  { min: 95, fpr: "1e-6", odds: "1 in 1,000,000" },
  { min: 90, fpr: "1e-5", odds: "1 in 100,000" },
  { min: 80, fpr: "1e-4", odds: "1 in 10,000" },
  { min: 70, fpr: "1e-3", odds: "1 in 1,000" },
];
const RECOMMENDED = 80;

// ---------------------------------------------------------------- API key

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function showKeyState() {
  const key = apiKey();
  $("key-state").textContent = key ? "key set for this tab" : "no key";
  for (const id of ["compare-run", "index-run", "search-run"]) updateButton(id);
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  $("api-key").value = "";
  showKeyState();
  if (key) refreshCollections().catch((e) => reportError("Listing collections", e));
});

$("key-forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  showKeyState();
  clearCollections();
});

// ------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; resolves to the JSON answer, rejects with an ApiError. */
async function api(method, path, body) {
  const headers = { Authorization: "ApiKey " + apiKey() };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK", "the server did not answer: " + e.message);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    // Not JSON: reported below.
  }
  if (!response.ok) {
    if (json && json.code) throw new ApiError(response.status, json.code, json.message);
    throw new ApiError(response.status, "HTTP_" + response.status, text.slice(0, 200));
  }
  return json;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function reportError(what, e) {
  if (e instanceof ApiError) {
    const hint = e.status === 401 ? " (is the API key right?)" : "";
    setStatus(`${what}: ${e.code}: ${e.message}${hint}`, true);
  } else {
    setStatus(`${what}: ${e}`, true);
  }
}

/** Runs `task` with `button` disabled and the status line telling what runs. */
async function busy(button, what, task) {
  $(button).disabled = true;
  setStatus(what + "…");
  try {
    await task();
    setStatus("");
  } catch (e) {
    reportError(what, e);
  } finally {
    updateButton(button);
  }
}

// ----------------------------------------------------------------- photos

/** The chosen file of each file input, read once as a data URL. */
const photos = {};

function readPhoto(input) {
  const file = input.files && input.files[0];
  if (!file) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ name: file.name, file, dataUrl: reader.result });
    reader.onerror = () => reject(new Error("cannot read " + file.name));
    reader.readAsDataURL(file);
  });
}

/** The request's image: the data URL, which the API accepts as base64. */
function imageOf(photo) {
  return { bytes: photo.dataUrl };
}

function loadImage(dataUrl) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this image"));
    img.src = dataUrl;
  });
}

/**
 * Draws the photo on `canvas`, scaled to at most 480 px wide, with a box per
 * face; the first face (the one the API compares) is green.
 */
async function drawFaces(canvas, photo, faces) {
  const ctx = canvas.getContext("2d");
  let img;
  try {
    img = await loadImage(photo.dataUrl);
  } catch (_) {
    canvas.width = 0;
    canvas.height = 0;
    return;
  }
  const scale = Math.min(1, 480 / img.naturalWidth);
  canvas.width = Math.round(img.naturalWidth * scale);
  canvas.height = Math.round(img.naturalHeight * scale);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  faces.forEach((face, i) => {
    const b = face.boundingBox;
    ctx.lineWidth = i === 0 ? 3 : 2;
    ctx.strokeStyle = i === 0 ? "#2ea043" : "#f0b429";
    ctx.strokeRect(b.x * scale, b.y * scale, b.width * scale, b.height * scale);
    if (face.label) {
      ctx.font = "bold 14px system-ui, sans-serif";
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(face.label, b.x * scale + 2, Math.max(14, b.y * scale - 4));
    }
  });
}

function updateButton(id) {
  const key = Boolean(apiKey());
  const cfKey = Boolean(serviceKey());
  const ready = {
    "compare-run": () => key && photos["photo-a"] && photos["photo-b"],
    "index-run": () => key && photos["index-photo"] && selectedCollection(),
    "search-run": () => key && photos["search-photo"] && selectedCollection(),
    "cf-add-run": () => cfKey && photos["cf-example-photo"] && $("cf-subject").value.trim(),
    "cf-recognize-run": () => cfKey && photos["cf-recognize-photo"],
  }[id];
  $(id).disabled = !ready();
}

for (const [input, button] of [
  ["photo-a", "compare-run"],
  ["photo-b", "compare-run"],
  ["index-photo", "index-run"],
  ["search-photo", "search-run"],
  ["cf-example-photo", "cf-add-run"],
  ["cf-recognize-photo", "cf-recognize-run"],
]) {
  $(input).addEventListener("change", async () => {
    // Until the new file is read, nothing may run on the old one.
    photos[input] = null;
    $(button).disabled = true;
    if (input.startsWith("photo-")) $("compare-result").hidden = true;
    try {
      photos[input] = await readPhoto($(input));
    } catch (e) {
      photos[input] = null;
      setStatus(String(e), true);
    }
    if (input.startsWith("photo-")) {
      const side = input.slice(-1);
      $("caption-" + side).textContent = photos[input] ? photos[input].name : "Photo " + side.toUpperCase();
      if (photos[input]) await drawFaces($("canvas-" + side), photos[input], []);
    }
    updateButton(button);
  });
}

// ---------------------------------------------------------------- compare

/** Embeds the faces of a photo (up to 10, most prominent first). */
async function embed(photo) {
  const answer = await api("POST", "/v1/face-verification/get-face-embeddings", {
    image: imageOf(photo),
    maxFaceCount: 10,
  });
  return answer.faces;
}

function meaningOf(similarity) {
  const band = BANDS.find((b) => similarity >= b.min);
  if (!band) {
    return "Below 70: more than 1 pair of different people in 1,000 score this high, " +
      "so this is no evidence of the same person.";
  }
  return `Pairs of different people reach ${band.min} or more with probability ` +
    `${band.odds} (false-positive rate ${band.fpr}).`;
}

$("compare-run").addEventListener("click", () =>
  busy("compare-run", "Comparing", async () => {
    $("compare-result").hidden = true;
    const [a, b] = await Promise.all([embed(photos["photo-a"]), embed(photos["photo-b"])]);
    await drawFaces($("canvas-a"), photos["photo-a"], a.map((f) => f.face));
    await drawFaces($("canvas-b"), photos["photo-b"], b.map((f) => f.face));
    const missing = [a.length ? null : "A", b.length ? null : "B"].filter(Boolean);
    if (missing.length) {
      throw new Error(`no face found in photo ${missing.join(" and ")}`);
    }
    const { similarity } = await api("POST", "/v1/face-verification/compare-face-embeddings", {
      embedding1: a[0].embedding,
      embedding2: b[0].embedding,
    });
    $("similarity").textContent = String(similarity);
    const same = similarity >= RECOMMENDED;
    $("verdict").textContent = same
      ? "Same person"
      : "Not the same person (at the recommended threshold of 80)";
    $("verdict").className = "verdict " + (same ? "same" : "different");
    $("meaning").textContent = meaningOf(similarity);
    $("compare-result").hidden = false;
  }),
);

// ------------------------------------------------------------ collections

function selectedCollection() {
  const checked = document.querySelector('input[name="collection"]:checked');
  return checked ? checked.value : null;
}

function clearCollections() {
  $("collection-rows").replaceChildren();
  $("no-collections").hidden = false;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function refreshCollections(select) {
  if (!apiKey()) return;
  const previous = select || selectedCollection();
  const { collections } = await api("GET", "/v1/collection/get-all");
  const rows = collections.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.collection = c.collectionId;
    const pick = document.createElement("input");
    pick.type = "radio";
    pick.name = "collection";
    pick.value = c.collectionId;
    pick.checked = c.collectionId === previous;
    pick.setAttribute("aria-label", "use " + c.collectionId);
    pick.addEventListener("change", () => {
      updateButton("index-run");
      updateButton("search-run");
    });
    const first = document.createElement("td");
    first.append(pick);
    const remove = document.createElement("button");
    remove.className = "secondary";
    remove.textContent = "Delete";
    remove.addEventListener("click", () => deleteCollection(c.collectionId));
    const last = document.createElement("td");
    last.append(remove);
    tr.append(first, cell(c.collectionId), cell(c.description || ""), cell(String(c.faceCount)),
      cell(c.createdAt), last);
    return tr;
  });
  $("collection-rows").replaceChildren(...rows);
  $("no-collections").hidden = rows.length > 0;
  if (!selectedCollection() && rows.length === 1) {
    rows[0].querySelector("input").checked = true;
  }
  updateButton("index-run");
  updateButton("search-run");
}

async function deleteCollection(id) {
  if (!confirm(`Delete collection "${id}" and all its faces?`)) return;
  try {
    await api("DELETE", "/v1/collection/delete?collectionId=" + encodeURIComponent(id));
    await refreshCollections();
    setStatus(`Deleted collection ${id}.`);
  } catch (e) {
    reportError("Deleting the collection", e);
  }
}

$("refresh").addEventListener("click", () =>
  refreshCollections().catch((e) => reportError("Listing collections", e)));

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const collectionId = $("new-collection").value;
  const description = $("new-description").value.trim();
  const body = { collectionId };
  if (description) body.description = description;
  try {
    await api("POST", "/v1/collection/create", body);
    $("new-collection").value = "";
    $("new-description").value = "";
    await refreshCollections(collectionId);
    setStatus(`Created collection ${collectionId}.`);
  } catch (e) {
    reportError("Creating the collection", e);
  }
});

$("index-run").addEventListener("click", () =>
  busy("index-run", "Indexing", async () => {
    const photo = photos["index-photo"];
    const collectionId = selectedCollection();
    $("index-result").textContent = "";
    const answer = await api("POST", "/v1/face/index", { image: imageOf(photo), collectionId });
    await drawFaces($("canvas-index"), photo, answer.face ? [answer.face] : []);
    await refreshCollections(collectionId);
    $("index-result").textContent = answer.hasFace
      ? `Stored as face ${answer.faceId} in ${collectionId}.`
      : "No face found: nothing stored.";
  }),
);

$("search-run").addEventListener("click", () =>
  busy("search-run", "Searching", async () => {
    const photo = photos["search-photo"];
    const collectionId = selectedCollection();
    const threshold = Number($("threshold").value);
    $("search-result").textContent = "";
    const answer = await api("POST", "/v1/face/search", {
      image: imageOf(photo),
      collectionId,
      faceMatchThreshold: threshold,
    });
    await drawFaces($("canvas-search"), photo, answer.face ? [answer.face] : []);
    let text;
    if (!answer.hasFace) {
      text = "No face found in the photo.";
    } else if (answer.faceId) {
      text = `Match: face ${answer.faceId}, similarity ${answer.similarity}. ${meaningOf(answer.similarity)}`;
    } else {
      text = `No face in ${collectionId} reaches similarity ${threshold}.`;
    }
    $("search-result").textContent = text;
  }),
);

// -------------------------------------------------------------- CompreFace

const CF_KEY_STORAGE = "facecore-compreface-key";

function serviceKey() {
  return sessionStorage.getItem(CF_KEY_STORAGE) || "";
}

function showServiceKeyState() {
  $("cf-key-state").textContent = serviceKey() ? "service key set for this tab" : "no key";
  updateButton("cf-add-run");
  updateButton("cf-recognize-run");
}

/**
 * Calls the CompreFace API with the service key in `x-api-key`; `form` is a
 * FormData (multipart, as CompreFace's clients upload) or undefined.
 * CompreFace's errors are `{message, code}` with a number for a code.
 */
async function cfApi(method, path, form) {
  const init = { method, headers: { "x-api-key": serviceKey() } };
  if (form !== undefined) init.body = form;
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "NETWORK", "the server did not answer: " + e.message);
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    // Not JSON: reported below.
  }
  if (!response.ok) {
    const code = json && json.code !== undefined ? "CompreFace code " + json.code : "HTTP_" + response.status;
    throw new ApiError(response.status, code, json && json.message ? json.message : text.slice(0, 200));
  }
  return json;
}

function photoForm(photo) {
  const form = new FormData();
  form.append("file", photo.file, photo.name);
  return form;
}

async function refreshSubjects() {
  if (!serviceKey()) return;
  const { subjects } = await cfApi("GET", "/api/v1/recognition/subjects");
  const items = subjects.map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    return li;
  });
  $("cf-subjects").replaceChildren(...items);
  $("cf-no-subjects").hidden = items.length > 0;
}

$("cf-key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("cf-key").value.trim();
  if (key) sessionStorage.setItem(CF_KEY_STORAGE, key);
  $("cf-key").value = "";
  showServiceKeyState();
  if (key) refreshSubjects().catch((e) => reportError("Listing subjects", e));
});

$("cf-key-forget").addEventListener("click", () => {
  sessionStorage.removeItem(CF_KEY_STORAGE);
  showServiceKeyState();
  $("cf-subjects").replaceChildren();
  $("cf-no-subjects").hidden = false;
});

$("cf-subject").addEventListener("input", () => updateButton("cf-add-run"));

$("cf-add-run").addEventListener("click", () =>
  busy("cf-add-run", "Adding the example", async () => {
    const subject = $("cf-subject").value.trim();
    $("cf-add-result").textContent = "";
    const added = await cfApi(
      "POST",
      "/api/v1/recognition/faces?subject=" + encodeURIComponent(subject),
      photoForm(photos["cf-example-photo"]),
    );
    $("cf-add-result").textContent = `Example ${added.image_id} added to ${added.subject}.`;
    await refreshSubjects();
  }),
);

$("cf-recognize-run").addEventListener("click", () =>
  busy("cf-recognize-run", "Recognizing", async () => {
    const photo = photos["cf-recognize-photo"];
    $("cf-recognize-result").replaceChildren();
    const { result } = await cfApi(
      "POST",
      "/api/v1/recognition/recognize?prediction_count=1",
      photoForm(photo),
    );
    const faces = result.map((face) => {
      const best = face.subjects[0];
      const b = face.box;
      return {
        boundingBox: { x: b.x_min, y: b.y_min, width: b.x_max - b.x_min, height: b.y_max - b.y_min },
        label: best ? `${best.subject} ${best.similarity.toFixed(2)}` : "",
        best,
      };
    });
    await drawFaces($("canvas-cf"), photo, faces);
    const items = faces.map((f, i) => {
      const li = document.createElement("li");
      li.textContent = f.best
        ? `Face ${i + 1}: ${f.best.subject}, similarity ${f.best.similarity}` +
          (f.best.similarity >= RECOMMENDED / 100 ? " (a match at 0.8)" : " (below 0.8: not a match)")
        : `Face ${i + 1}: no subjects yet`;
      return li;
    });
    $("cf-recognize-result").replaceChildren(...items);
  }),
);

showKeyState();
showServiceKeyState();
refreshCollections().catch((e) => reportError("Listing collections", e));
refreshSubjects().catch((e) => reportError("Listing subjects", e));
