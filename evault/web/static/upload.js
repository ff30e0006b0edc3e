/* The officer's upload page: tus uploads of a recorder folder, each receipt verified before "may clear".
   A file may be cleared from the recorder only after (1) its SHA-256, computed here, equals the receipt's and
   (2) the receipt's Ed25519 signature verifies with the vault's public key over vault.keys.canonical_json. */
"use strict";

(function () {
  const root = document.getElementById("upload");
  if (!root) return;
  const text = JSON.parse(root.dataset.messages);
  const csrf = root.dataset.csrf;
  const user = root.dataset.user;
  const list = document.getElementById("upload-files");
  const form = document.getElementById("upload-tags");
  const tagsError = form.querySelector("[data-testid=tags-error]");
  const summaryLine = root.querySelector("[data-testid=summary]");
  const HASH_SLICE = 4 * 1024 * 1024;
  const DONE_PREFIX = "evault-upload-done::";
  const TAGS_KEY = "evault-upload-tags::" + user;
  const OWN_NAMES = new Set(["evault.json", "evault.toml", "EVAULT-CLEARED.txt"]);
  let vaultKey = null;
  let running = Promise.resolve();

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, name) => String(values[name]));
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, value));
    (children || []).forEach((child) => node.append(child));
    return node;
  }

  function humanSize(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(1) + " GiB";
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
    if (n >= 1024) return (n / 1024).toFixed(0) + " KiB";
    return n + " B";
  }

  // The byte-exact form of vault.keys.canonical_json for a flat object of strings, integers, booleans and
  // nulls: keys sorted, no spaces, non-ASCII unescaped. JSON.stringify escapes strings exactly as Python's
  // json.dumps(ensure_ascii=False) does (", \, \b \f \n \r \t, other controls as lower-case \u00XX).
  function canonicalJson(value) {
    const keys = Object.keys(value).sort();
    const parts = keys.map((key) => {
      const item = value[key];
      if (item !== null && typeof item === "object") throw new Error("nested value in a receipt");
      if (typeof item === "number" && !Number.isSafeInteger(item)) throw new Error("non-integer in a receipt");
      return JSON.stringify(key) + ":" + JSON.stringify(item);
    });
    return new TextEncoder().encode("{" + parts.join(",") + "}");
  }

  // The agency's wall-clock time, written as the server's local_time filter writes it (2026-03-31 10:00:00).
  function localTime(iso) {
    return new Date(iso).toLocaleString("sv-SE", { timeZone: root.dataset.zone });
  }

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function base64Bytes(b64) {
    const binary = atob(b64);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  async function loadVaultKey() {
    if (vaultKey) return vaultKey;
    const answer = await fetch("/api/custody/public-key", { credentials: "same-origin" });
    const body = await answer.json();
    const der = base64Bytes(body.pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
    const prefix = "302a300506032b6570032100"; // SubjectPublicKeyInfo of an Ed25519 key: 32 raw bytes follow
    if (der.length !== 44 || hex(der.slice(0, 12)) !== prefix) throw new Error("not an Ed25519 key");
    const raw = der.slice(12);
    const keyId = hex(await crypto.subtle.digest("SHA-256", raw)).slice(0, 16); // as vault.keys.Signer.key_id
    if (keyId !== body.key_id) throw new Error("the key does not match its key id");
    const key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    vaultKey = { key: key, keyId: keyId };
    return vaultKey;
  }

  async function sha256Of(file, onBytes) {
    const hasher = await hashwasm.createSHA256();
    hasher.init();
    for (let offset = 0; offset < file.size; offset += HASH_SLICE) {
      const slice = file.slice(offset, Math.min(offset + HASH_SLICE, file.size));
      hasher.update(new Uint8Array(await slice.arrayBuffer()));
      onBytes(Math.min(offset + HASH_SLICE, file.size));
    }
    return hasher.digest("hex");
  }

  // Returns "ok", "signature" or "mismatch"; only "ok" lets the page say the file may be cleared.
  async function verifyReceipt(signed, sha256, size) {
    const body = signed && signed.receipt;
    if (!body || typeof signed.signature !== "string") return "signature";
    let valid = false;
    try {
      const key = await loadVaultKey();
      valid = body.vault_key_id === key.keyId && await crypto.subtle.verify(
        { name: "Ed25519" }, key.key, base64Bytes(signed.signature), canonicalJson(body));
    } catch (error) {
      console.warn("receipt verification failed", error);
      valid = false;
    }
    if (!valid) return "signature";
    if (String(body.sha256).toLowerCase() !== sha256 || body.size !== size) return "mismatch";
    return "ok";
  }

  /* ---- rows ---- */

  function makeRow(file) {
    const name = file.relativePath || file.name;
    const bar = el("progress", { max: "100", value: "0", "aria-label": name });
    const bytes = el("span", { class: "bytes", "data-testid": "file-bytes" });
    const status = el("span", { class: "status", "data-testid": "file-status" }, [text.waiting]);
    const detail = el("div", { class: "detail", "data-testid": "file-detail" });
    const item = el("li", { class: "upload-file", "data-testid": "upload-file", "data-name": file.name }, [
      el("div", { class: "file-head" }, [el("strong", {}, [name]), " ", status]),
      el("div", { class: "file-progress" }, [bar, bytes]),
      detail,
    ]);
    list.append(item);
    const row = { item: item, bar: bar, bytes: bytes, status: status, detail: detail, size: file.size };
    showBytes(row, 0);
    return row;
  }

  function showBytes(row, sent) {
    const percent = row.size ? Math.floor((sent / row.size) * 100) : 100;
    row.bar.value = percent;
    row.bytes.textContent = humanSize(sent) + " / " + humanSize(row.size) + " (" + percent + "%)";
  }

  function setStatus(row, message, state) {
    row.status.textContent = message;
    if (state) row.item.dataset.state = state;
  }

  function receiptLink(signed, name) {
    const blob = new Blob([JSON.stringify(signed, null, 2) + "\n"], { type: "application/json" });
    return el("a", { href: URL.createObjectURL(blob), download: name + ".evault-receipt.json",
      "data-testid": "download-receipt", class: "button" }, [text.download]);
  }

  function showReceipt(row, signed, verdict, name) {
    const body = signed.receipt || {};
    const facts = el("dl", { class: "receipt", "data-testid": "receipt" });
    [["evidence_id", body.evidence_id], ["sha256", body.sha256], ["size", humanSize(Number(body.size)) +
      " (" + body.size + " B)"], ["received_at", localTime(body.received_at)]].forEach(([key, value]) => {
      facts.append(el("dt", {}, [text[key]]), el("dd", { "data-field": key }, [String(value)]));
    });
    row.detail.replaceChildren(facts);
    if (body.duplicate) row.detail.append(el("p", { class: "duplicate", "data-testid": "duplicate" }, [text.duplicate]));
    if (verdict === "ok") {
      row.detail.append(el("p", { class: "verified" }, [text.verified]),
        el("p", { class: "may-clear", "data-testid": "may-clear" }, [text.may_clear]));
      row.item.dataset.state = body.duplicate ? "duplicate" : "stored";
    } else {
      row.detail.append(el("p", { class: "warning", role: "alert", "data-testid": "receipt-warning" },
        [verdict === "mismatch" ? text.mismatch : text.bad_signature]));
      row.item.dataset.state = "failed";
    }
    row.detail.append(receiptLink(signed, name));
  }

  function refusalOf(error) {
    const response = error && error.originalResponse;
    let code = "network";
    let message = error && error.message ? error.message : "";
    if (response) {
      try {
        const body = JSON.parse(response.getBody()).error;
        code = body.code;
        message = body.message;
      } catch (ignored) {
        code = "network";
      }
    }
    return { code: code, message: message };
  }

  function showRefusal(row, refusal) {
    setStatus(row, text.failed, "failed");
    const words = text["refusal." + refusal.code] || text.failed;
    row.detail.replaceChildren(el("p", { class: "warning", role: "alert", "data-testid": "file-refusal",
      "data-code": refusal.code }, [words]), el("p", { class: "muted server-message" }, [refusal.message]));
  }

  /* ---- one file ---- */

  async function forget(fingerprint) {
    const storage = tus.defaultOptions.urlStorage;
    for (const entry of await storage.findUploadsByFingerprint(fingerprint)) {
      await storage.removeUpload(entry.urlStorageKey);
    }
  }

  function tusUpload(file, metadata, fingerprint, row) {
    return new Promise((resolve, reject) => {
      let duplicateId = null;
      const upload = new tus.Upload(file, {
        endpoint: "/api/uploads",
        chunkSize: Number(root.dataset.chunkSize),
        retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
        metadata: metadata,
        headers: { "X-CSRF-Token": csrf },
        fingerprint: () => Promise.resolve(fingerprint),
        removeFingerprintOnSuccess: true,
        onBeforeRequest: (request) => {
          // The vault answered creation with an existing record: there are no bytes to send.
          if (duplicateId && request.getMethod() === "PATCH") throw new Error("duplicate");
        },
        onAfterResponse: (request, response) => {
          if (request.getMethod() === "POST" && response.getStatus() === 200) {
            duplicateId = response.getHeader("Evault-Evidence-Id");
          }
        },
        onShouldRetry: (error) => {
          if (duplicateId) return false;
          const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
          const again = !status || status === 409 || status === 423 || status >= 500;
          if (again) setStatus(row, text.retrying, "retrying");
          return again;
        },
        onProgress: (sent) => {
          showBytes(row, sent);
          setStatus(row, text.uploading, "uploading");
        },
        onSuccess: () => resolve(upload.url),
        onError: (error) => {
          if (duplicateId) return forget(fingerprint).then(() => resolve(upload.url));
          const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
          // A refusal of the file itself cannot succeed on a later try: do not offer it for resuming.
          if (status >= 400 && status < 500 && status !== 409 && status !== 423) forget(fingerprint);
          reject(error);
        },
      });
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) {
          upload.resumeFromPreviousUpload(previous[0]);
          setStatus(row, text.resuming, "resuming");
        }
        upload.start();
      }, reject);
    });
  }

  async function sendFile(file, metadata, counts) {
    const row = makeRow(file);
    try {
      await sendInto(row, file, metadata, counts);
    } catch (error) {
      showRefusal(row, { code: "network", message: String(error) });
      counts.failed += 1;
    }
  }

  async function sendInto(row, file, metadata, counts) {
    setStatus(row, text.hashing, "hashing");
    const sha256 = await sha256Of(file, (n) => showBytes(row, n));
    showBytes(row, 0);
    const fingerprint = ["evault", user, sha256, file.size].join(":");
    let signed = JSON.parse(localStorage.getItem(DONE_PREFIX + fingerprint) || "null");
    if (!signed) {
      let url;
      try {
        url = await tusUpload(file, Object.assign({}, metadata, { filename: file.name, sha256: sha256 }),
          fingerprint, row);
      } catch (error) {
        showRefusal(row, refusalOf(error));
        counts.failed += 1;
        return;
      }
      setStatus(row, text.verifying);
      const answer = await fetch(url + "/receipt", { credentials: "same-origin" });
      signed = await answer.json();
      if (!answer.ok) {
        showRefusal(row, { code: signed.error.code, message: signed.error.message });
        counts.failed += 1;
        return;
      }
      localStorage.setItem(DONE_PREFIX + fingerprint, JSON.stringify(signed));
    }
    showBytes(row, file.size);
    const verdict = await verifyReceipt(signed, sha256, file.size);
    setStatus(row, signed.receipt && signed.receipt.duplicate ? text.duplicate : text.stored);
    showReceipt(row, signed, verdict, file.name);
    if (verdict !== "ok") counts.failed += 1;
    else if (signed.receipt.duplicate) counts.duplicates += 1;
    else counts.stored += 1;
  }

  /* ---- the batch ---- */

  async function checkedTags() {
    const data = new FormData(form);
    localStorage.setItem(TAGS_KEY, JSON.stringify(Object.fromEntries(data.entries())));
    const answer = await fetch("/upload/check", { method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf } });
    const body = await answer.json();
    if (answer.ok) {
      tagsError.hidden = true;
      return body.metadata;
    }
    const key = body.error.details && body.error.details.key;
    const field = text["field." + key];
    tagsError.textContent = text.tags_refused + " " + (field ? format(text.field_refused,
      { field: field, reason: body.error.message }) : body.error.message);
    tagsError.hidden = false;
    return null;
  }

  function wanted(file) {
    return !file.name.startsWith(".") && !OWN_NAMES.has(file.name) && !file.name.endsWith(".evault-receipt.json");
  }

  async function runBatch(files) {
    const chosen = files.filter(wanted);
    if (!chosen.length) {
      tagsError.textContent = text.no_files;
      tagsError.hidden = false;
      return;
    }
    const metadata = await checkedTags();
    if (!metadata) return;
    list.replaceChildren();
    summaryLine.hidden = true;
    const counts = { stored: 0, duplicates: 0, failed: 0 };
    for (const file of chosen) await sendFile(file, metadata, counts);
    summaryLine.textContent = format(text.summary, counts);
    summaryLine.hidden = false;
    root.dataset.batch = "done";
    showUnfinished();
  }

  function queue(files) {
    root.dataset.batch = "running";
    running = running.then(() => runBatch(files)).catch((error) => {
      tagsError.textContent = text["refusal.network"] + " " + String(error);
      tagsError.hidden = false;
      root.dataset.batch = "done";
    });
  }

  /* ---- choosing files: inputs and the drop zone (which walks dropped folders) ---- */

  function entryFiles(entry) {
    if (entry.isFile) {
      return new Promise((resolve) => entry.file((file) => {
        file.relativePath = entry.fullPath.replace(/^\//, "");
        resolve([file]);
      }, () => resolve([])));
    }
    const reader = entry.createReader();
    return new Promise((resolve) => {
      const found = [];
      const more = () => reader.readEntries(async (entries) => {
        if (!entries.length) return resolve(found);
        for (const child of entries) found.push(...await entryFiles(child));
        more();
      }, () => resolve(found));
      more();
    });
  }

  function sorted(files) {
    return files.sort((a, b) => (a.relativePath || a.webkitRelativePath || a.name).localeCompare(
      b.relativePath || b.webkitRelativePath || b.name));
  }

  ["pick-files", "pick-folder"].forEach((id) => {
    const input = document.getElementById(id);
    input.addEventListener("change", () => {
      const files = Array.from(input.files);
      files.forEach((file) => { file.relativePath = file.webkitRelativePath || file.name; });
      input.value = "";
      queue(sorted(files));
    });
  });

  const zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const entries = Array.from(event.dataTransfer.items || [])
      .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null)).filter(Boolean);
    const files = [];
    if (entries.length) {
      for (const entry of entries) files.push(...await entryFiles(entry));
    } else {
      files.push(...Array.from(event.dataTransfer.files));
    }
    queue(sorted(files));
  });

  /* ---- after a reload: the tags as they were, and the uploads left unfinished ---- */

  function restoreTags() {
    const saved = JSON.parse(localStorage.getItem(TAGS_KEY) || "null");
    if (!saved) return;
    Object.entries(saved).forEach(([name, value]) => {
      const field = form.elements.namedItem(name);
      if (field && "value" in field) field.value = value;
    });
  }

  async function showUnfinished() {
    const box = document.getElementById("unfinished");
    const found = (await tus.defaultOptions.urlStorage.findAllUploads())
      .filter((entry) => String(entry.urlStorageKey).startsWith("tus::evault:" + user + ":"));
    box.hidden = !found.length;
    box.querySelector("p").textContent = text.unfinished;
    box.querySelector("ul").replaceChildren(...found.map((entry) => el("li", { "data-testid": "unfinished-file" },
      [(entry.metadata && entry.metadata.filename) + " (" + humanSize(entry.size) + ")"])));
  }

  restoreTags();
  showUnfinished();
})();
