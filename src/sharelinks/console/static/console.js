// Small progressive enhancement: confirmations for destructive actions and the live payload preview.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

async function refreshPreview(form) {
  const target = document.getElementById("payload-preview");
  if (!target) return;
  const data = new FormData(form);
  const response = await fetch("/console/webhooks/preview", {method: "POST", body: data});
  const text = await response.text();
  try {
    target.textContent = response.ok ? JSON.stringify(JSON.parse(text), null, 2) : JSON.parse(text).error;
  } catch (_) {
    target.textContent = text;
  }
}

// A whsec_ secret made in the browser (32 random bytes, base64), shown so it can be copied for the
// receiver: the server keeps it write-only and never shows it again.
function fillStandardWebhooksSecret(form) {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const secret = form.elements.key;
  secret.value = "whsec_" + btoa(String.fromCharCode(...bytes));
  secret.type = "text";
  form.elements.algorithm.value = "STANDARD_WEBHOOKS";
  document.getElementById("generated-hint").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("webhook-form");
  if (form) {
    form.addEventListener("input", () => refreshPreview(form));
    form.addEventListener("change", () => refreshPreview(form));
    refreshPreview(form);
  }
  const generate = document.getElementById("generate-secret");
  if (generate) {
    document.getElementById("generate").hidden = false;
    generate.addEventListener("click", () => fillStandardWebhooksSecret(generate.form));
  }
  const running = document.querySelector("[data-refresh]");
  if (running) setTimeout(() => window.location.reload(), Number(running.dataset.refresh));
});
