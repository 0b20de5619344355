// Countersign template editor. No framework, no network beyond this server.
//
// Fields are dragged from the palette onto a page (or chosen, then placed with a click), moved by
// dragging or with the arrow keys, resized from their corner (or with Alt + arrows), given to a signer
// role (merge fields belong to the sender and carry the name senders fill them by), and saved.
// Positions are kept in PDF points from the page's top-left corner, the units the server stores.
// Saving posts the fields; then the embedding app gets hellosign:userCreateTemplate and
// hellosign:userFinishRequest (sign.js holds the message channel).
// On a draft's requester page the requester may also add, rename and remove the signers (when the
// draft allows it); fields name their signer by position, so removing one removes their fields.
"use strict";

(function () {
  const embed = window.countersignEmbed;
  if (!embed) return;
  const config = embed.config;
  const ready = embed.announce();
  const readOnly = Boolean(config.preview_only);
  const status = document.getElementById("status");
  const formError = document.getElementById("form-error");

  // Default sizes of a new field, in points.
  const SIZES = {
    signature: [160, 36], initials: [60, 30], date_signed: [100, 18], text: [140, 18], checkbox: [14, 14],
    radio: [14, 14], dropdown: [120, 18], hyperlink: [120, 16], "text-merge": [140, 18], "checkbox-merge": [14, 14],
  };
  const LABELS = Object.fromEntries((config.palette || []).map((p) => [p.type, p.label]));
  const isMerge = (type) => type.endsWith("-merge");

  // page key "document:page" → [width, height] in points
  const pageSizes = {};
  for (const doc of config.documents || []) {
    (doc.pages || []).forEach((size, i) => { pageSizes[`${doc.document_index}:${i + 1}`] = size; });
  }
  const pageElements = Array.from(document.querySelectorAll(".edit-target"));
  const pageOf = (el) => ({ document_index: Number(el.dataset.document), page: Number(el.dataset.page) });
  const sizeOf = (el) => pageSizes[`${el.dataset.document}:${el.dataset.page}`] || [612, 792];

  let fields = (config.fields || []).map((f) => ({ ...f, options: f.options || [] }));
  let selected = null;
  let counter = fields.length;
  let armed = null; // a palette type chosen for click placement

  const roleSelect = document.getElementById("role-select");
  const panel = document.getElementById("field-panel");
  const fieldRole = document.getElementById("field-role");
  const fieldName = document.getElementById("field-name");
  const fieldRequired = document.getElementById("field-required");
  const fieldOptions = document.getElementById("field-options");
  const fieldOptionsLabel = document.getElementById("field-options-label");
  // Per-type inputs of the panel: [element id (its label's is id-label), the field type, the field's key].
  const typeInputs = [
    ["field-group", "radio", "group"],
    ["field-link-text", "hyperlink", "content"],
    ["field-link-url", "hyperlink", "content_url"],
  ].map(([id, type, key]) => ({ input: document.getElementById(id), label: document.getElementById(`${id}-label`), type, key }));

  // Signers (roles) by position. A requester page that edits signers derives them from its rows.
  let roles = (config.roles || []).slice();
  const signers = (config.signers || []).map((s) => ({ name: s.name || "", email_address: s.email_address || "" }));
  const signerRows = document.getElementById("signer-rows");
  if (config.edit_signers && signers.length === 0) signers.push({ name: "", email_address: "" });

  function describe(f) {
    const who = isMerge(f.type) ? `merge field ${f.name || "(unnamed)"}` : (roles[f.role] || "no signer");
    return `${LABELS[f.type] || f.type} — ${who}`;
  }

  function setStatus(text) {
    if (status) status.textContent = text;
  }

  function showError(text) {
    formError.textContent = text;
    formError.hidden = !text;
  }

  function updateStatus() {
    if (readOnly) return setStatus(`${fields.length} field${fields.length === 1 ? "" : "s"}`);
    setStatus(`${fields.length} field${fields.length === 1 ? "" : "s"} placed`);
  }

  // ---------------------------------------------------------------------------------------------
  // Drawing
  // ---------------------------------------------------------------------------------------------
  function elementFor(f) {
    return document.querySelector(`.edit-field[data-key="${CSS.escape(f.key)}"]`);
  }

  function draw(f) {
    const target = pageElements.find((el) => Number(el.dataset.document) === f.document_index && Number(el.dataset.page) === f.page);
    if (!target) return;
    let el = elementFor(f);
    if (!el) {
      el = document.createElement("div");
      el.className = "edit-field";
      el.dataset.key = f.key;
      el.tabIndex = 0;
      el.setAttribute("role", "button");
      const label = document.createElement("span");
      label.className = "edit-field-label";
      el.append(label);
      if (!readOnly) {
        const handle = document.createElement("span");
        handle.className = "edit-field-resize";
        handle.setAttribute("aria-hidden", "true");
        el.append(handle);
        el.addEventListener("pointerdown", (event) => startMove(event, f));
        handle.addEventListener("pointerdown", (event) => startResize(event, f));
        el.addEventListener("keydown", (event) => {
          if (event.target !== el) return;
          if (event.key === "Delete" || event.key === "Backspace") return remove(f);
          // Arrow keys move the field by a point (ten with Shift); with Alt they resize it.
          const step = event.shiftKey ? 10 : 1;
          const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
          const move = moves[event.key];
          if (!move) return;
          event.preventDefault();
          if (event.altKey) {
            f.width += move[0];
            f.height += move[1];
          } else {
            f.x += move[0];
            f.y += move[1];
          }
          clamp(f);
          draw(f);
        });
      }
      el.addEventListener("focus", () => select(f));
      target.append(el);
    } else if (el.parentElement !== target) {
      target.append(el);
    }
    const [w, h] = sizeOf(target);
    el.style.left = `${(f.x / w) * 100}%`;
    el.style.top = `${(f.y / h) * 100}%`;
    el.style.width = `${(f.width / w) * 100}%`;
    el.style.height = `${(f.height / h) * 100}%`;
    el.dataset.type = f.type;
    el.classList.toggle("is-merge", isMerge(f.type));
    el.classList.toggle("is-selected", selected === f);
    el.dataset.role = isMerge(f.type) ? "sender" : String(f.role);
    el.setAttribute("aria-label", describe(f));
    el.querySelector(".edit-field-label").textContent = isMerge(f.type) ? (f.name || LABELS[f.type]) : `${LABELS[f.type] || f.type} · ${roles[f.role] || "?"}`;
  }

  function drawAll() {
    for (const f of fields) draw(f);
    updateStatus();
  }

  // ---------------------------------------------------------------------------------------------
  // Selection and the field panel
  // ---------------------------------------------------------------------------------------------
  function select(f) {
    const previous = selected;
    selected = f;
    if (previous && previous !== f) draw(previous);
    if (f) draw(f);
    if (!panel) return;
    panel.hidden = !f;
    if (!f) return;
    fieldRole.value = String(f.role ?? 0);
    fieldRole.disabled = isMerge(f.type);
    fieldName.value = f.name || "";
    fieldRequired.checked = Boolean(f.required);
    const dropdown = f.type === "dropdown";
    fieldOptions.hidden = !dropdown;
    fieldOptionsLabel.hidden = !dropdown;
    fieldOptions.value = (f.options || []).join("\n");
    for (const t of typeInputs) {
      if (!t.input) continue;
      t.input.hidden = t.label.hidden = f.type !== t.type;
      t.input.value = f[t.key] || "";
    }
    // A hyperlink is read, never filled: never required.
    fieldRequired.disabled = f.type === "hyperlink";
  }

  if (panel) {
    fieldRole.addEventListener("change", () => { if (selected) { selected.role = Number(fieldRole.value); draw(selected); } });
    fieldName.addEventListener("input", () => { if (selected) { selected.name = fieldName.value; draw(selected); } });
    fieldRequired.addEventListener("change", () => { if (selected) selected.required = fieldRequired.checked; });
    fieldOptions.addEventListener("input", () => {
      if (selected) selected.options = fieldOptions.value.split("\n").map((o) => o.trim()).filter(Boolean);
    });
    document.getElementById("field-delete").addEventListener("click", () => { if (selected) remove(selected); });
    for (const t of typeInputs) {
      if (t.input) t.input.addEventListener("input", () => { if (selected) { selected[t.key] = t.input.value; draw(selected); } });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Signers of a requester page
  // ---------------------------------------------------------------------------------------------
  function fillRoleOptions(select) {
    if (!select) return;
    const value = select.value;
    select.replaceChildren(...roles.map((name, i) => {
      const option = document.createElement("option");
      option.value = String(i);
      option.textContent = name;
      return option;
    }));
    if (Number(value) < roles.length) select.value = value;
  }

  function refreshRoles() {
    if (!config.edit_signers) return;
    roles = signers.map((s, i) => s.name.trim() || s.email_address.trim() || `Signer ${i + 1}`);
    fillRoleOptions(roleSelect);
    fillRoleOptions(fieldRole);
    if (selected) fieldRole.value = String(selected.role ?? 0);
    for (const f of fields) draw(f);
  }

  function removeSigner(index) {
    for (const f of fields.filter((x) => !isMerge(x.type) && x.role === index)) remove(f);
    for (const f of fields) if (!isMerge(f.type) && f.role > index) f.role -= 1;
    signers.splice(index, 1);
    renderSigners();
  }

  function renderSigners() {
    if (!signerRows) return;
    signerRows.replaceChildren(...signers.map((signer, i) => {
      const row = document.createElement("fieldset");
      row.className = "signer-row";
      const legend = document.createElement("legend");
      legend.textContent = `Signer ${i + 1}`;
      row.append(legend);
      for (const [key, label, type] of [["name", "Name", "text"], ["email_address", "E-mail address", "email"]]) {
        const id = `signer-${i}-${key}`;
        const labelEl = document.createElement("label");
        labelEl.htmlFor = id;
        labelEl.textContent = label;
        const input = document.createElement("input");
        input.id = id;
        input.type = type;
        input.maxLength = 255;
        input.autocomplete = "off";
        input.value = signer[key];
        input.addEventListener("input", () => { signer[key] = input.value; refreshRoles(); });
        row.append(labelEl, input);
      }
      const drop = document.createElement("button");
      drop.type = "button";
      drop.className = "link";
      drop.textContent = "Remove signer";
      drop.setAttribute("aria-label", `Remove signer ${i + 1}`);
      drop.disabled = signers.length === 1;
      drop.addEventListener("click", () => removeSigner(i));
      row.append(drop);
      return row;
    }));
    refreshRoles();
  }

  const addSigner = document.getElementById("add-signer");
  if (addSigner) {
    addSigner.addEventListener("click", () => {
      signers.push({ name: "", email_address: "" });
      renderSigners();
      roleSelect.value = String(signers.length - 1);
      const inputs = signerRows.querySelectorAll("input");
      inputs[inputs.length - 2].focus();
    });
  }

  function remove(f) {
    fields = fields.filter((x) => x !== f);
    const el = elementFor(f);
    if (el) el.remove();
    if (selected === f) select(null);
    updateStatus();
  }

  // ---------------------------------------------------------------------------------------------
  // Placing, moving, resizing
  // ---------------------------------------------------------------------------------------------
  function pageAt(clientX, clientY) {
    return pageElements.find((el) => {
      const r = el.getBoundingClientRect();
      return clientX >= r.left && clientX <= r.right && clientY >= r.top && clientY <= r.bottom;
    });
  }

  function toPoints(el, clientX, clientY) {
    const r = el.getBoundingClientRect();
    const [w, h] = sizeOf(el);
    return [((clientX - r.left) / r.width) * w, ((clientY - r.top) / r.height) * h];
  }

  function clamp(f) {
    const [w, h] = pageSizes[`${f.document_index}:${f.page}`] || [612, 792];
    f.width = Math.min(Math.max(f.width, 6), w);
    f.height = Math.min(Math.max(f.height, 6), h);
    f.x = Math.min(Math.max(f.x, 0), w - f.width);
    f.y = Math.min(Math.max(f.y, 0), h - f.height);
  }

  function place(type, pageEl, clientX, clientY) {
    const [px, py] = toPoints(pageEl, clientX, clientY);
    const [width, height] = SIZES[type] || [120, 18];
    counter += 1;
    const merge = isMerge(type);
    const f = {
      key: `new-${counter}`,
      api_id: "",
      type,
      role: merge ? null : Number(roleSelect.value || 0),
      name: "",
      required: type !== "checkbox" && type !== "checkbox-merge",
      ...pageOf(pageEl),
      x: px - width / 2,
      y: py - height / 2,
      width,
      height,
      options: type === "dropdown" ? ["Option 1", "Option 2"] : [],
      // Radio buttons placed one after another for a signer join their last group.
      group: type === "radio" ? lastGroup(Number(roleSelect.value || 0)) : "",
      content: type === "hyperlink" ? "Link" : "",
      content_url: "",
    };
    if (type === "hyperlink") f.required = false;
    clamp(f);
    fields.push(f);
    draw(f);
    select(f);
    // A merge field is known by its name: ask for it at once.
    if (merge && fieldName) fieldName.focus();
    else elementFor(f).focus();
    updateStatus();
    showError("");
  }

  function lastGroup(role) {
    const radios = fields.filter((x) => x.type === "radio" && x.role === role && x.group);
    if (radios.length) return radios[radios.length - 1].group;
    const taken = new Set(fields.filter((x) => x.type === "radio").map((x) => x.group));
    let n = 1;
    while (taken.has(`Group ${n}`)) n += 1;
    return `Group ${n}`;
  }

  function startMove(event, f) {
    if (event.target.classList.contains("edit-field-resize")) return;
    event.preventDefault();
    select(f);
    const el = elementFor(f);
    const startX = event.clientX;
    const startY = event.clientY;
    const origin = { x: f.x, y: f.y, document_index: f.document_index, page: f.page };
    el.setPointerCapture(event.pointerId);
    const move = (e) => {
      const target = pageAt(e.clientX, e.clientY) || el.parentElement;
      const [dx0, dy0] = toPoints(el.parentElement, startX, startY);
      const [x1, y1] = toPoints(el.parentElement, e.clientX, e.clientY);
      if (target !== el.parentElement) {
        const [tx, ty] = toPoints(target, e.clientX, e.clientY);
        Object.assign(f, pageOf(target), { x: tx - f.width / 2, y: ty - f.height / 2 });
      } else {
        f.x = origin.x + (x1 - dx0);
        f.y = origin.y + (y1 - dy0);
      }
      clamp(f);
      draw(f);
    };
    const up = () => {
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerup", up);
      el.removeEventListener("pointercancel", up);
    };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
  }

  function startResize(event, f) {
    event.preventDefault();
    event.stopPropagation();
    select(f);
    const handle = event.target;
    const el = elementFor(f);
    handle.setPointerCapture(event.pointerId);
    const move = (e) => {
      const [x, y] = toPoints(el.parentElement, e.clientX, e.clientY);
      f.width = x - f.x;
      f.height = y - f.y;
      clamp(f);
      draw(f);
    };
    const up = () => {
      handle.removeEventListener("pointermove", move);
      handle.removeEventListener("pointerup", up);
    };
    handle.addEventListener("pointermove", move);
    handle.addEventListener("pointerup", up);
  }

  // The palette: drag an item onto a page, or press it and click the page.
  const paletteItems = document.getElementById("palette-items");
  if (paletteItems && !readOnly) {
    for (const item of config.palette || []) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "palette-item";
      button.dataset.type = item.type;
      button.textContent = item.label;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("pointerdown", (event) => startPaletteDrag(event, item.type, button));
      button.addEventListener("click", () => {
        if (button.dataset.dragged) return; // the end of a drag, not a click
        armed = armed === item.type ? null : item.type;
        for (const b of paletteItems.children) b.setAttribute("aria-pressed", String(b.dataset.type === armed));
        setStatus(armed ? `Click a page to place the ${item.label.toLowerCase()} field` : "");
      });
      paletteItems.append(button);
    }
  }

  function startPaletteDrag(event, type, button) {
    if (event.button !== 0) return;
    const startX = event.clientX;
    const startY = event.clientY;
    let ghost = null;
    const move = (e) => {
      if (!ghost && Math.hypot(e.clientX - startX, e.clientY - startY) < 6) return;
      if (!ghost) {
        ghost = document.createElement("div");
        ghost.className = "edit-ghost";
        ghost.textContent = LABELS[type] || type;
        document.body.append(ghost);
      }
      ghost.style.left = `${e.clientX}px`;
      ghost.style.top = `${e.clientY}px`;
    };
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      if (!ghost) return; // a click: handled by the click listener
      ghost.remove();
      button.dataset.dragged = "1";
      setTimeout(() => delete button.dataset.dragged, 0);
      const target = pageAt(e.clientX, e.clientY);
      if (target) place(type, target, e.clientX, e.clientY);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  for (const pageEl of pageElements) {
    pageEl.addEventListener("click", (event) => {
      if (readOnly || !armed || event.target.closest(".edit-field")) return;
      const type = armed;
      armed = null;
      for (const b of paletteItems.children) b.setAttribute("aria-pressed", "false");
      place(type, pageEl, event.clientX, event.clientY);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Saving
  // ---------------------------------------------------------------------------------------------
  const saveButton = document.getElementById("save-template");
  if (saveButton) {
    saveButton.addEventListener("click", async () => {
      showError("");
      const body = {
        session: config.session,
        expires: config.expires,
        signers: config.edit_signers ? signers : undefined,
        fields: fields.map((f) => ({
          api_id: f.api_id, type: f.type, role: f.role, name: f.name, required: f.required,
          document_index: f.document_index, page: f.page, x: f.x, y: f.y, width: f.width, height: f.height,
          options: f.options, group: f.group, content: f.content, content_url: f.content_url,
        })),
      };
      saveButton.disabled = true;
      setStatus(config.mode === "request" ? "Sending…" : "Saving…");
      let answer = null;
      let ok = false;
      try {
        const response = await fetch(config.action, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
          credentials: "omit",
        });
        answer = await response.json().catch(() => null);
        ok = response.ok;
      } catch (e) {
        answer = null;
      }
      saveButton.disabled = false;
      if (!ok) {
        updateStatus();
        showError((answer && answer.error && answer.error.error_msg) || "The template could not be saved. Please try again.");
        return;
      }
      await ready;
      if (config.mode === "request") {
        embed.post("hellosign:userSendRequest", {
          signatureRequestId: answer.signature_request_id,
          signatureId: (answer.signature_ids || [])[0],
        });
        embed.showDone("Request sent", "The signers have been asked to sign.");
        for (const hide of document.querySelectorAll(".editor")) hide.hidden = true;
        embed.post("hellosign:userFinishRequest");
        return;
      }
      const template = answer.template || {};
      embed.post("hellosign:userCreateTemplate", {
        templateId: config.template_id,
        title: template.title,
        message: template.message,
        signerRoles: (template.signer_roles || []).map((r) => ({ name: r.name, order: r.order })),
        ccRoles: (template.cc_roles || []).map((r) => r.name),
        signatureRequestInfo: { title: template.title, message: template.message },
      });
      embed.showDone("Template saved", "Your template is ready to send.");
      for (const hide of document.querySelectorAll(".editor")) hide.hidden = true;
      embed.post("hellosign:userFinishRequest");
    });
  }

  fields.forEach((f, i) => { f.key = `saved-${i}`; });
  renderSigners();
  drawAll();
})();
