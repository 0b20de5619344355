// Countersign signer page. No framework, no network beyond this server.
//
// Speaks the hellosign-embedded v2 protocol when the page is embedded: verify the parent's domain
// (hellosign:verifyDomainRequest, echoed back by the library), announce the page
// (hellosign:initialize), and report the signer's actions (userSignRequest, userDeclineRequest,
// userReassignRequest, userFinishRequest, userCancelRequest, error) — always to the parent's origin only.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("countersign-config").textContent || "{}");
  const embed = config.embed || null;
  const inFrame = window.parent !== window;

  // ---------------------------------------------------------------------------------------------
  // hellosign-embedded messages
  // ---------------------------------------------------------------------------------------------
  const parentOrigin = embed && embed.parent_origin;
  function post(type, payload) {
    if (!inFrame || !parentOrigin) return;
    const message = payload === undefined ? { type } : { type, payload };
    window.parent.postMessage(message, parentOrigin);
  }
  const listeners = [];
  window.addEventListener("message", (event) => {
    if (!parentOrigin || event.origin !== parentOrigin || event.source !== window.parent) return;
    const data = event.data;
    if (!data || typeof data !== "object" || typeof data.type !== "string") return;
    for (const listener of listeners.slice()) listener(data);
  });
  function once(type, timeoutMs) {
    return new Promise((resolve, reject) => {
      const listener = (data) => {
        if (data.type !== type) return;
        listeners.splice(listeners.indexOf(listener), 1);
        clearTimeout(timer);
        resolve(data.payload || {});
      };
      const timer = setTimeout(() => {
        listeners.splice(listeners.indexOf(listener), 1);
        reject(new Error("timeout"));
      }, timeoutMs);
      listeners.push(listener);
    });
  }
  function randomToken() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The parent's close button asks first; the page answers by cancelling (nothing was submitted).
  listeners.push((data) => {
    if (data.type === "hellosign:userCancelRequest") post("hellosign:userCancelRequest");
  });

  async function announce() {
    if (!embed || !inFrame) return true;
    const signatureId = embed.signature_id || undefined;
    if (embed.verify_domain) {
      const token = randomToken();
      const answer = once("hellosign:verifyDomainResponse", 10000);
      post("hellosign:verifyDomainRequest", { token });
      try {
        const payload = await answer;
        if (payload.token !== token) throw new Error("mismatch");
      } catch (e) {
        post("hellosign:initialize", { signatureId });
        post("hellosign:error", { signatureId, code: "domain_verification_failed" });
        showDone("This page cannot show this request", "The page embedding this signing page did not confirm its domain.");
        return false;
      }
    }
    post("hellosign:initialize", { signatureId });
    return true;
  }

  // Replaces the page's content with a heading and a sentence (the signer page's own "done" section
  // when there is one).
  function showDone(heading, text) {
    const done = document.getElementById("done");
    if (!done) {
      const main = document.querySelector("main");
      if (main) {
        main.replaceChildren();
        const h = document.createElement("h1");
        h.textContent = heading;
        const p = document.createElement("p");
        p.textContent = text;
        main.append(h, p);
      }
      return;
    }
    for (const hide of document.querySelectorAll(".bar, #sign-form, #form-error")) hide.hidden = true;
    document.getElementById("done-heading").textContent = heading;
    document.getElementById("done-text").textContent = text;
    done.hidden = false;
    done.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // Pages other than the signer page: tell the embedding app what happened.
  // ---------------------------------------------------------------------------------------------
  if (config.page === "message") {
    if (embed && inFrame) {
      post("hellosign:initialize", { signatureId: embed.signature_id || undefined });
      post("hellosign:error", { signatureId: embed.signature_id || undefined, code: embed.code });
    }
    return;
  }
  if (config.page === "pin") {
    announce();
    return;
  }
  if (config.page === "edit") {
    // The template editor (edit.js, loaded after this file) speaks through the same messages.
    window.countersignEmbed = { config, post, announce, showDone };
    return;
  }
  if (config.page !== "sign") return;

  // ---------------------------------------------------------------------------------------------
  // The signer page
  // ---------------------------------------------------------------------------------------------
  const form = document.getElementById("sign-form");
  const fields = Array.from(document.querySelectorAll(".field[data-editable]"));
  const progress = document.getElementById("progress");
  const formError = document.getElementById("form-error");
  const images = {}; // api_id → PNG data URL
  const typedNames = {}; // api_id → the name typed, for typed signatures (shown as text in the final copy)
  let adoptedSignature = null; // { image, typed }: reused for further signature fields, like a pen kept in hand
  let adoptedInitials = null;
  let busy = false;

  const ready = announce();

  function control(field) {
    return field.querySelector("input, select, button.sign-field");
  }

  function valueOf(field) {
    const kind = field.dataset.kind;
    const c = control(field);
    if (kind === "signature" || kind === "initials") return images[field.dataset.apiId] || null;
    if (kind === "checkbox" || kind === "radio") return c.checked;
    if (kind === "date_signed") return c.value;
    return c.value.trim();
  }

  const validators = {
    numbers_only: [/^[0-9.,-]+$/, "numbers only"],
    letters_only: [/^[\p{L} ]+$/u, "letters only"],
    phone_number: [/^(?=(?:\D*\d){7,15}\D*$)[0-9 +().-]+$/, "a phone number"],
    bank_routing_number: [/^\d{9}$/, "a 9-digit bank routing number"],
    bank_account_number: [/^\d{4,17}$/, "a bank account number (4 to 17 digits)"],
    email_address: [/^[^\s@]+@[^\s@]+\.[^\s@]+$/, "an e-mail address"],
    zip_code: [/^(\d{5}|\d{9}|\d{5}-\d{4})$/, "a ZIP code (5 or 9 digits)"],
    social_security_number: [/^(?=(?:\D*\d){9}\D*$)[0-9-]+$/, "a social security number (9 digits)"],
    employer_identification_number: [/^(?=(?:\D*\d){9}\D*$)[0-9-]+$/, "an employer identification number (9 digits)"],
  };

  // The message for a field's current value, or "" when it is fine.
  function problem(field) {
    const kind = field.dataset.kind;
    const value = valueOf(field);
    const required = field.dataset.required === "1";
    if (kind === "signature" || kind === "initials") {
      return required && !value ? (kind === "initials" ? "Add your initials here." : "Add your signature here.") : "";
    }
    if (kind === "checkbox") {
      return required && !value && !field.dataset.group ? "Check this box to continue." : "";
    }
    if (kind === "radio" || kind === "date_signed") return "";
    if (kind === "dropdown") return required && !value ? "Choose an option." : "";
    if (!value) return required ? "Fill in this field." : "";
    const validation = field.dataset.validation;
    if (validation === "custom_regex" && field.dataset.pattern) {
      let re = null;
      try {
        re = new RegExp("^(?:" + field.dataset.pattern + ")$", "u");
      } catch (e) {
        re = null;
      }
      if (re && !re.test(value)) return "Enter " + (field.dataset.patternLabel || "the expected format") + ".";
    } else if (validators[validation] && !validators[validation][0].test(value)) {
      return "Enter " + validators[validation][1] + ".";
    }
    return "";
  }

  // Radio buttons and grouped checkboxes are answered together.
  function groupProblems() {
    const problems = [];
    const declared = new Map((config.groups || []).map((g) => [g.id, g]));
    const byGroup = new Map();
    for (const field of fields) {
      const kind = field.dataset.kind;
      if (kind !== "radio" && kind !== "checkbox") continue;
      const key = field.dataset.group || (kind === "radio" ? field.dataset.apiId : null);
      if (!key) continue;
      if (!byGroup.has(key)) byGroup.set(key, []);
      byGroup.get(key).push(field);
    }
    for (const [key, members] of byGroup) {
      const checked = members.filter((f) => control(f).checked).length;
      const group = declared.get(key);
      const label = group && group.label ? group.label : "this group";
      if (group) {
        if (checked < group.least) problems.push([members[0], `Choose at least ${group.least} in ${label}.`]);
        else if (group.most !== null && group.most !== undefined && checked > group.most) {
          problems.push([members[0], `Choose at most ${group.most} in ${label}.`]);
        }
      } else if (members[0].dataset.kind === "radio") {
        const required = members.some((f) => f.dataset.required === "1");
        if (required && checked === 0) problems.push([members[0], "Choose one option."]);
      }
    }
    return problems;
  }

  function showProblem(field, message) {
    const slot = field.querySelector(".field-error");
    const c = control(field);
    field.classList.toggle("has-error", !!message);
    if (slot) {
      slot.textContent = message;
      slot.hidden = !message;
    }
    if (c) {
      if (message) c.setAttribute("aria-invalid", "true");
      else c.removeAttribute("aria-invalid");
    }
  }

  // Shows every field's problem; the first field with one, or null.
  function validateAll() {
    let first = null;
    for (const field of fields) {
      const message = problem(field);
      showProblem(field, message);
      if (message && !first) first = field;
    }
    for (const [field, message] of groupProblems()) {
      showProblem(field, message);
      if (!first) first = field;
    }
    return first;
  }

  function complete(field) {
    const kind = field.dataset.kind;
    if (kind === "date_signed") return true;
    const value = valueOf(field);
    if (kind === "checkbox" || kind === "radio") return field.dataset.required !== "1" || value;
    return !!value && !problem(field);
  }

  function updateProgress() {
    const open = fields.filter((f) => f.dataset.required === "1" && !complete(f)).length;
    progress.textContent = open === 0 ? "All required fields are complete" : `${open} required field${open === 1 ? "" : "s"} left`;
  }

  function nextOpenField() {
    return fields.find((f) => f.dataset.required === "1" && !complete(f)) || fields.find((f) => !complete(f));
  }

  function focusField(field) {
    field.scrollIntoView({ block: "center", behavior: "smooth" });
    const c = control(field);
    if (c) c.focus({ preventScroll: true });
  }

  document.getElementById("next-field").addEventListener("click", () => {
    const field = nextOpenField();
    if (field) focusField(field);
  });

  for (const field of fields) {
    const c = control(field);
    if (!c) continue;
    const kind = field.dataset.kind;
    if (kind === "signature" || kind === "initials") {
      c.addEventListener("click", () => openSignature(field));
      continue;
    }
    const recheck = () => {
      if (!formError.hidden) {
        // After a refused "I agree", every message follows the signer's corrections.
        if (!validateAll()) formError.hidden = true;
      } else if (field.classList.contains("has-error")) {
        showProblem(field, problem(field));
      }
      updateProgress();
    };
    c.addEventListener("input", recheck);
    c.addEventListener("change", recheck);
    c.addEventListener("blur", () => {
      showProblem(field, problem(field));
      updateProgress();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Making a signature: draw, type or upload, as the request's signing_options allow
  // ---------------------------------------------------------------------------------------------
  const dialog = document.getElementById("signature-dialog");
  const title = document.getElementById("signature-title");
  const signatureError = document.getElementById("signature-error");
  const pad = document.getElementById("draw-pad");
  const typed = document.getElementById("typed-name");
  const typedPreview = document.getElementById("typed-preview");
  const upload = document.getElementById("upload-file");
  const uploadPreview = document.getElementById("upload-preview");
  const options = config.signing_options || { draw: true, type: true, upload: true, default_type: "draw" };
  const modes = ["draw", "type", "upload"].filter((m) => options[m]);
  let mode = modes.includes(options.default_type) ? options.default_type : modes[0];
  let target = null;
  let drawn = false;
  let uploaded = false;

  for (const m of ["draw", "type", "upload"]) {
    const tab = document.getElementById("tab-" + m);
    if (!modes.includes(m)) tab.hidden = true;
    tab.addEventListener("click", () => selectMode(m));
  }
  function selectMode(m) {
    mode = m;
    for (const other of ["draw", "type", "upload"]) {
      const tab = document.getElementById("tab-" + other);
      tab.setAttribute("aria-selected", String(other === m));
      tab.tabIndex = other === m ? 0 : -1;
      document.getElementById("panel-" + other).hidden = other !== m;
    }
    signatureError.textContent = "";
  }

  function openSignature(field) {
    target = field;
    const initials = field.dataset.kind === "initials";
    const adopted = initials ? adoptedInitials : adoptedSignature;
    // A first click on a further field reuses the signature already made; a signed field opens the
    // dialog to change it (cancelling keeps what was there).
    if (adopted && !images[field.dataset.apiId]) {
      place(field, adopted.image, adopted.typed);
      return;
    }
    title.textContent = initials ? "Add your initials" : "Add your signature";
    if (!typed.value) typed.value = initials ? initialsOf(config.signer_name || "") : config.signer_name || "";
    drawTyped();
    selectMode(mode);
    dialog.showModal();
    const first = mode === "type" ? typed : document.getElementById("tab-" + mode);
    first.focus();
  }

  function initialsOf(name) {
    return name
      .split(/\s+/)
      .filter(Boolean)
      .map((part) => part[0].toUpperCase())
      .join("");
  }

  // Drawing with a mouse, a finger or a pen.
  const ink = pad.getContext("2d");
  function resetPad() {
    ink.clearRect(0, 0, pad.width, pad.height);
    ink.lineWidth = 3;
    ink.lineCap = "round";
    ink.lineJoin = "round";
    ink.strokeStyle = "#10246b";
    drawn = false;
  }
  resetPad();
  let last = null;
  function point(event) {
    const rect = pad.getBoundingClientRect();
    return [((event.clientX - rect.left) / rect.width) * pad.width, ((event.clientY - rect.top) / rect.height) * pad.height];
  }
  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    ink.beginPath();
    ink.arc(last[0], last[1], 1.2, 0, Math.PI * 2);
    ink.fillStyle = ink.strokeStyle;
    ink.fill();
    drawn = true;
  });
  pad.addEventListener("pointermove", (event) => {
    if (!last) return;
    const next = point(event);
    ink.beginPath();
    ink.moveTo(last[0], last[1]);
    ink.lineTo(next[0], next[1]);
    ink.stroke();
    last = next;
    drawn = true;
  });
  for (const end of ["pointerup", "pointercancel", "pointerleave"]) pad.addEventListener(end, () => (last = null));
  document.getElementById("clear-drawing").addEventListener("click", resetPad);

  // Typing a name, drawn in a handwriting-like face.
  function drawTyped() {
    const g = typedPreview.getContext("2d");
    g.clearRect(0, 0, typedPreview.width, typedPreview.height);
    const text = typed.value.trim();
    if (!text) return;
    let size = 72;
    g.font = `italic ${size}px "URW Chancery L", "Z003", "Brush Script MT", cursive`;
    while (g.measureText(text).width > typedPreview.width - 40 && size > 18) {
      size -= 4;
      g.font = `italic ${size}px "URW Chancery L", "Z003", "Brush Script MT", cursive`;
    }
    g.fillStyle = "#10246b";
    g.textBaseline = "middle";
    g.fillText(text, 20, typedPreview.height / 2);
  }
  typed.addEventListener("input", drawTyped);

  // Uploading an image: drawn onto a canvas and sent as PNG, whatever it was.
  upload.addEventListener("change", () => {
    uploaded = false;
    const file = upload.files && upload.files[0];
    const g = uploadPreview.getContext("2d");
    g.clearRect(0, 0, uploadPreview.width, uploadPreview.height);
    if (!file) return;
    if (!/^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
      signatureError.textContent = "Choose a PNG, JPEG or GIF image.";
      return;
    }
    if (file.size > 5 * 1024 * 1024) {
      signatureError.textContent = "Choose an image smaller than 5 MB.";
      return;
    }
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      const scale = Math.min(uploadPreview.width / img.width, uploadPreview.height / img.height, 1);
      const w = img.width * scale;
      const h = img.height * scale;
      g.drawImage(img, (uploadPreview.width - w) / 2, (uploadPreview.height - h) / 2, w, h);
      URL.revokeObjectURL(url);
      uploaded = true;
      signatureError.textContent = "";
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      signatureError.textContent = "That file could not be read as an image.";
    };
    img.src = url;
  });

  // The drawn part of a canvas, cropped to its ink, as a PNG data URL.
  function cropped(canvas) {
    const g = canvas.getContext("2d");
    const { width, height } = canvas;
    const data = g.getImageData(0, 0, width, height).data;
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (data[(y * width + x) * 4 + 3] > 8) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
    if (x1 < 0) return null;
    const pad = 6;
    x0 = Math.max(0, x0 - pad);
    y0 = Math.max(0, y0 - pad);
    x1 = Math.min(width - 1, x1 + pad);
    y1 = Math.min(height - 1, y1 + pad);
    const out = document.createElement("canvas");
    out.width = x1 - x0 + 1;
    out.height = y1 - y0 + 1;
    out.getContext("2d").drawImage(canvas, x0, y0, out.width, out.height, 0, 0, out.width, out.height);
    return out.toDataURL("image/png");
  }

  document.getElementById("signature-insert").addEventListener("click", () => {
    let image = null;
    if (mode === "draw") image = drawn ? cropped(pad) : null;
    else if (mode === "type") image = typed.value.trim() ? cropped(typedPreview) : null;
    else image = uploaded ? cropped(uploadPreview) : null;
    if (!image) {
      signatureError.textContent =
        mode === "draw" ? "Draw your signature first." : mode === "type" ? "Type your name first." : "Choose an image first.";
      return;
    }
    const mark = { image, typed: mode === "type" ? typed.value.trim() : null };
    if (target.dataset.kind === "initials") adoptedInitials = mark;
    else adoptedSignature = mark;
    dialog.close();
    place(target, image, mark.typed);
  });
  document.getElementById("signature-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (target) control(target).focus();
  });

  function place(field, image, typedName) {
    images[field.dataset.apiId] = image;
    if (typedName) typedNames[field.dataset.apiId] = typedName;
    else delete typedNames[field.dataset.apiId];
    const button = control(field);
    button.replaceChildren();
    const img = document.createElement("img");
    img.src = image;
    img.alt = "";
    button.appendChild(img);
    button.classList.add("is-signed");
    button.setAttribute("aria-label", field.dataset.label + " (signed; select to sign again)");
    showProblem(field, "");
    if (!formError.hidden && !validateAll()) formError.hidden = true;
    updateProgress();
  }

  // ---------------------------------------------------------------------------------------------
  // Submitting
  // ---------------------------------------------------------------------------------------------
  async function send(action, body) {
    const response = await fetch(`/sign/${encodeURIComponent(config.signature_id)}/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(Object.assign({ session: config.session, expires: config.expires }, body)),
      credentials: "omit",
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch (e) {
      answer = {};
    }
    return { ok: response.ok, status: response.status, answer };
  }

  function errorText(answer, fallback) {
    return (answer && answer.error && answer.error.error_msg) || fallback;
  }

  function finishAndLeave() {
    const redirect = config.redirect_url;
    if (embed && inFrame) {
      post("hellosign:userFinishRequest");
      if (redirect) {
        try {
          window.top.location.href = redirect;
        } catch (e) {
          /* the parent app navigates itself */
        }
      }
      return;
    }
    if (redirect) {
      const link = document.getElementById("done-continue");
      link.href = redirect;
      link.hidden = false;
      window.location.assign(redirect);
    }
  }

  document.getElementById("finish").addEventListener("click", async () => {
    if (busy) return;
    formError.hidden = true;
    const first = validateAll();
    if (first) {
      formError.textContent = "Some fields still need your attention.";
      formError.hidden = false;
      focusField(first);
      return;
    }
    const values = {};
    const signatures = {};
    for (const field of fields) {
      const kind = field.dataset.kind;
      const value = valueOf(field);
      if (kind === "signature" || kind === "initials") {
        if (value) signatures[field.dataset.apiId] = value;
      } else if (kind !== "date_signed") {
        values[field.dataset.apiId] = value;
      }
    }
    busy = true;
    const button = document.getElementById("finish");
    button.disabled = true;
    button.textContent = "Signing…";
    try {
      await ready;
      const typedSent = {};
      for (const apiId of Object.keys(signatures)) if (typedNames[apiId]) typedSent[apiId] = typedNames[apiId];
      const { ok, answer } = await send("sign", { values, images: signatures, typed: typedSent });
      if (!ok) {
        const path = answer && answer.error && answer.error.error_path;
        const field = path && fields.find((f) => f.dataset.apiId === path || f.dataset.group === path);
        if (field) {
          showProblem(field, errorText(answer, "Check this field."));
          focusField(field);
        }
        formError.textContent = errorText(answer, "Your signature could not be saved. Try again.");
        formError.hidden = false;
        post("hellosign:error", { signatureId: config.signature_id, code: (answer.error && answer.error.error_name) || "sign_failed" });
        return;
      }
      post("hellosign:userSignRequest", { signatureId: config.signature_id });
      showDone("You have signed", "Thank you. Your signature is recorded, and the sender will be notified.");
      finishAndLeave();
    } catch (e) {
      formError.textContent = "The connection failed. Check your network and try again.";
      formError.hidden = false;
    } finally {
      busy = false;
      button.disabled = false;
      button.textContent = "I agree";
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Declining and reassigning
  // ---------------------------------------------------------------------------------------------
  for (const closer of document.querySelectorAll("dialog [data-close]")) {
    closer.addEventListener("click", () => closer.closest("dialog").close());
  }

  const declineDialog = document.getElementById("decline-dialog");
  if (declineDialog) {
    document.getElementById("open-decline").addEventListener("click", () => {
      declineDialog.showModal();
      document.getElementById("decline-reason").focus();
    });
    document.getElementById("decline-confirm").addEventListener("click", async () => {
      const reason = document.getElementById("decline-reason").value.trim();
      const error = document.getElementById("decline-error");
      if (!reason) {
        error.textContent = "Say why you decline.";
        return;
      }
      const { ok, answer } = await send("decline", { reason });
      if (!ok) {
        error.textContent = errorText(answer, "Your answer could not be saved. Try again.");
        return;
      }
      declineDialog.close();
      post("hellosign:userDeclineRequest", { signatureId: config.signature_id, reason });
      showDone("You declined to sign", "The sender will be told, with your reason.");
    });
  }

  const reassignDialog = document.getElementById("reassign-dialog");
  if (reassignDialog) {
    document.getElementById("open-reassign").addEventListener("click", () => {
      reassignDialog.showModal();
      document.getElementById("reassign-name").focus();
    });
    document.getElementById("reassign-confirm").addEventListener("click", async () => {
      const name = document.getElementById("reassign-name").value.trim();
      const email = document.getElementById("reassign-email").value.trim();
      const reason = document.getElementById("reassign-reason").value.trim();
      const error = document.getElementById("reassign-error");
      if (!name || !email) {
        error.textContent = "Enter their name and email address.";
        return;
      }
      const { ok, answer } = await send("reassign", { name, email_address: email, reason });
      if (!ok) {
        error.textContent = errorText(answer, "The request could not be reassigned. Try again.");
        return;
      }
      reassignDialog.close();
      post("hellosign:userReassignRequest", { signatureId: config.signature_id, name, email, reason });
      showDone("Reassigned", `${name} will be asked to sign in your place.`);
    });
  }

  updateProgress();
})();
