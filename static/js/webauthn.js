/* Passkeys (W3C WebAuthn L2) for SatuAkun's server-rendered pages.
 *
 * Loaded with <script src> (CSP script-src 'self': no inline script). Each
 * <form data-webauthn="get|create" data-options="{JSON}"> is a normal form with its
 * CSRF token: on submit this script runs navigator.credentials.get()/create() with the
 * server's options, puts the result (JSON, base64url as in L3 §5.1.8
 * PublicKeyCredentialJSON) in the hidden "credential" field and submits the form.
 * Boxes marked [data-webauthn-box] stay hidden unless the browser supports WebAuthn, so
 * a browser without JavaScript never shows a button that cannot work; notes marked
 * [data-webauthn-unsupported] are hidden when it does.
 */
(function () {
  "use strict";

  function toBuffer(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBuffer(c.id) };
      if (c.transports) { d.transports = c.transports; }
      return d;
    });
  }

  function creationOptions(o) {
    o.challenge = toBuffer(o.challenge);
    o.user.id = toBuffer(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBuffer(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  function serialise(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      out.response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  function start(form) {
    var status = form.querySelector("[data-webauthn-status]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (status) { status.hidden = true; status.textContent = ""; }
      var options = JSON.parse(form.getAttribute("data-options"));
      var ceremony = form.getAttribute("data-webauthn") === "create"
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      if (button) { button.disabled = true; }
      ceremony.then(function (credential) {
        form.querySelector("input[name=credential]").value = serialise(credential);
        form.submit();  // a plain POST: no submit event, no second ceremony
      }).catch(function () {
        // Cancelled, timed out, or no passkey for this site: say so, stay on the page.
        if (button) { button.disabled = false; }
        if (status) { status.textContent = status.getAttribute("data-failed"); status.hidden = false; }
      });
    });
  }

  if (!window.PublicKeyCredential || !navigator.credentials) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("[data-webauthn-unsupported]"), function (el) {
    el.hidden = true;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-webauthn-box]"), function (el) {
    el.hidden = false;
  });
  Array.prototype.forEach.call(document.querySelectorAll("form[data-webauthn]"), start);
}());
