// 来电录入: the caller's tickets appear as the number is typed (来电弹屏), triage's suggestions
// as the content is typed; both are HTML fragments POSTed with the form's CSRF token.
(function () {
  "use strict";
  var form = document.getElementById("call-form");
  if (!form) { return; }
  var csrf = form.elements.csrf.value;

  function debounced(fn, ms) {
    var timer = null;
    return function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fn, ms);
    };
  }

  function fetchInto(url, fields, target) {
    var body = new URLSearchParams();
    body.append("csrf", csrf);
    Object.keys(fields).forEach(function (key) { body.append(key, fields[key]); });
    var sent = body.toString();
    target.dataset.sent = sent;
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        // only the answer to the latest question is shown
        if (html !== null && target.dataset.sent === sent) { target.innerHTML = html; }
      })
      .catch(function () { /* the next keystroke asks again */ });
  }

  var phone = form.elements.phone;
  var caller = document.getElementById("caller");
  var lookUp = debounced(function () {
    fetchInto(form.dataset.caller, { phone: phone.value }, caller);
  }, 300);
  phone.addEventListener("input", lookUp);

  var content = form.elements.content;
  var suggestBox = document.getElementById("suggest");
  var suggestNow = debounced(function () {
    fetchInto(form.dataset.suggest, {
      content: content.value,
      address: form.elements.address.value,
      request_type: form.elements.request_type.value
    }, suggestBox);
  }, 400);
  content.addEventListener("input", suggestNow);
  form.elements.request_type.addEventListener("change", suggestNow);

  suggestBox.addEventListener("click", function (event) {
    var button = event.target.closest("button.use-answer");
    if (!button) { return; }
    form.elements.answer.value = button.dataset.answer;
    form.elements.kb_entry.value = button.dataset.entry;
    form.elements.answer.focus();
  });
  form.elements.answer.addEventListener("input", function () {
    if (!form.elements.answer.value.trim()) { form.elements.kb_entry.value = ""; }
  });

  // Enter in a one-line field must not press the first button of the form, which may be a
  // 关联 button of the caller's tickets: the agent presses the button they mean
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.tagName === "INPUT") { event.preventDefault(); }
  });

  // a form shown again (an error) asks at once for what it already holds
  if (phone.value) { lookUp(); }
  if (content.value) { suggestNow(); }
})();
