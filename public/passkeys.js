// latch's own script: passkeys on /account/security and the login page.
// The WebAuthn steps run through @simplewebauthn/browser (/static/webauthn.js);
// the server's JSON endpoints check a CSRF token, which the buttons carry.
(function () {
  'use strict';
  var W = window.SimpleWebAuthnBrowser;
  if (!W || !W.browserSupportsWebAuthn()) return;

  function post(url, csrf, body) {
    body._csrf = csrf;
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error_description || 'The server answered ' + r.status + '.');
        return data;
      });
    });
  }

  function say(id, message) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = message;
    el.hidden = !message;
  }

  /** A cancelled or timed-out browser dialog is not worth an alarming message. */
  function explain(err) {
    if (err && (err.name === 'NotAllowedError' || err.name === 'AbortError')) return 'Cancelled, or no passkey was chosen.';
    return (err && err.message) || 'Something went wrong.';
  }

  var add = document.getElementById('add-passkey');
  if (add) {
    var d = add.dataset;
    document.getElementById('passkey-add').hidden = false;
    say('passkey-no-js', '');
    add.addEventListener('click', function () {
      add.disabled = true;
      say('passkey-error', '');
      var name = document.getElementById('passkey-name');
      post(d.optionsUrl, d.optionsCsrf, {})
        .then(function (r) { return W.startRegistration({ optionsJSON: r.options }); })
        .then(function (response) { return post(d.verifyUrl, d.verifyCsrf, { response: response, name: name ? name.value : '' }); })
        .then(function (r) { window.location.assign(r.redirect); })
        .catch(function (err) { say('passkey-error', explain(err)); add.disabled = false; });
    });
  }

  var signin = document.getElementById('passkey-signin');
  if (signin) {
    var s = signin.dataset;
    document.getElementById('passkey-signin-block').hidden = false;
    signin.addEventListener('click', function () {
      signin.disabled = true;
      say('passkey-signin-error', '');
      post(s.optionsUrl, s.optionsCsrf, { return_to: s.returnTo })
        .then(function (r) { return W.startAuthentication({ optionsJSON: r.options }); })
        .then(function (response) { return post(s.verifyUrl, s.verifyCsrf, { response: response }); })
        .then(function (r) { window.location.assign(r.redirect); })
        .catch(function (err) { say('passkey-signin-error', explain(err)); signin.disabled = false; });
    });
  }
})();
