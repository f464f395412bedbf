// Save a trade's notes and tags in place: the plain form still works without JavaScript.
(function () {
  "use strict";
  var form = document.getElementById("annotate-form");
  if (!form || !window.fetch) { return; }
  var status = document.getElementById("annotate-status");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    status.textContent = "Saving…";
    var body = new FormData(form);
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": body.get("csrfmiddlewaretoken") },
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) {
        var errors = result.data.errors || {};
        status.textContent = "Not saved: " + Object.keys(errors).map(function (k) {
          return (k === "__all__" ? "" : k + ": ") + errors[k].map(function (e) { return e.message; }).join(" ");
        }).join("; ");
        status.className = "loss";
        return;
      }
      form.querySelector("[name=notes]").value = result.data.notes;
      form.querySelector("[name=tags]").value = result.data.tags.join(", ");
      document.getElementById("audit-history").innerHTML = result.data.audit_html;
      var links = document.getElementById("tag-links");
      if (links) {
        links.textContent = "";
        result.data.tags.forEach(function (tag) {
          var a = document.createElement("a");
          a.className = "tag";
          a.href = links.dataset.listUrl + "?tag=" + encodeURIComponent(tag) + "&mode=";
          a.textContent = tag;
          links.appendChild(a);
        });
      }
      status.textContent = "Saved";
      status.className = "win";
    }).catch(function () {
      status.textContent = "Not saved: the server did not answer";
      status.className = "loss";
    });
  });
})();
