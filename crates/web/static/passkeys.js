// Passkey ceremonies for forms marked data-passkey="create" or "get". The server put the
// options in <script type="application/json" id="passkey-options">; this script converts their
// base64url fields for navigator.credentials, runs the browser's dialog, puts the answer (as
// JSON, base64url again) in the form's hidden "credential" field, and submits the form.
// Without JavaScript or WebAuthn the form's noscript/unsupported notes explain what to do.
(function () {
  "use strict";
  var b64 = function (buf) {
    var s = "", bytes = new Uint8Array(buf);
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  var bin = function (s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var raw = atob(s), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  };
  var ids = function (list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: bin(c.id) }); });
  };
  var answer = function (cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
      response: { clientDataJSON: b64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = b64(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = b64(r.authenticatorData);
      out.response.signature = b64(r.signature);
      if (r.userHandle && r.userHandle.byteLength) out.response.userHandle = b64(r.userHandle);
    }
    return JSON.stringify(out);
  };
  var source = document.getElementById("passkey-options");
  if (!source) return;
  var options = JSON.parse(source.textContent);
  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (el) {
    el.hidden = supported;
  });
  // One ceremony at a time: the autofill (conditional) request waits in the background and is
  // cancelled when the user presses the button instead.
  var pendingAutofill = null;
  var run = function (form, conditional) {
    var field = form.querySelector("input[name=credential]");
    var status = form.querySelector("[data-passkey-status]");
    var pk = Object.assign({}, options.publicKey, { challenge: bin(options.publicKey.challenge) });
    var call;
    if (form.dataset.passkey === "create") {
      pk.user = Object.assign({}, pk.user, { id: bin(pk.user.id) });
      pk.excludeCredentials = ids(pk.excludeCredentials);
      call = navigator.credentials.create({ publicKey: pk });
    } else {
      pk.allowCredentials = ids(pk.allowCredentials);
      var request = { publicKey: pk };
      if (conditional) {
        pendingAutofill = new AbortController();
        request.mediation = "conditional";
        request.signal = pendingAutofill.signal;
      }
      call = navigator.credentials.get(request);
    }
    if (status && !conditional) status.textContent = "Follow your browser's instructions…";
    call.then(function (cred) {
      field.value = answer(cred);
      form.submit();
    }, function (err) {
      if (conditional || !status || (err && err.name === "AbortError")) return;
      status.textContent = err && err.name === "NotAllowedError"
        ? "The passkey dialog was closed or timed out. Try again."
        : "Your browser could not use a passkey here (" + (err && err.name) + ").";
    });
  };
  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var button = form.querySelector("[data-passkey-button]");
    if (button) button.hidden = !supported;
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) return;
      event.preventDefault();
      if (!supported) return;
      if (pendingAutofill) { pendingAutofill.abort(); pendingAutofill = null; }
      run(form, false);
    });
    // The passkey in the username field's autofill (WebAuthn L3 conditional mediation).
    if (supported && form.hasAttribute("data-passkey-conditional") &&
        PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (ok) run(form, true);
      });
    }
  });
})();
