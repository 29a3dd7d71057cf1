// Progressive enhancement for the portal. Every form also works without this file.
(function () {
  "use strict";

  // htmx requests carry the CSRF token as a header (forms also post it as a field).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      event.detail.headers["X-CSRFToken"] = meta.content;
    }
  });

  // Say at once that a proof document is too large, instead of after a long upload.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[type=file][data-max-bytes]")) {
      return;
    }
    var limit = parseInt(input.dataset.maxBytes, 10);
    var box = document.getElementById(input.id + "-error");
    var file = input.files && input.files[0];
    if (!box) {
      return;
    }
    if (file && file.size > limit) {
      input.value = "";
      box.textContent = "";
      var p = document.createElement("p");
      // The size as the server words it ("10 MB", "512 KB"): rounding to whole MB would say "0 MB" for small limits.
      p.textContent = "The file " + file.name + " is larger than " +
        (input.dataset.maxSize || limit + " bytes") + ". Choose a smaller PDF, PNG or JPEG.";
      box.appendChild(p);
      box.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", describedBy(input, box.id));
    } else if (file) {
      box.textContent = "";
      box.hidden = true;
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", describedBy(input, null));
    }
  });

  // The field's hint stays tied to it; the error box is added or taken away.
  function describedBy(input, errorId) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== input.id + "-error";
    });
    if (errorId) {
      ids.push(errorId);
    }
    return ids.join(" ");
  }

  // Focus after a swap: the server marks what takes it with `autofocus` (the opened form's heading, the
  // error summary, the row just saved), which htmx focuses; the same markup serves a plain page load.
  // Here: remember which button opened the Add/Update form, so that Escape or Cancel can close the form
  // and give the focus back to it.
  var FORM_SLOT = "license-form-slot";
  var opener = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === FORM_SLOT) {
      opener = event.detail.elt;
    }
  });

  function openerNow() {
    if (opener && document.body.contains(opener)) {
      return opener;
    }
    // The panel was swapped since (a save): the same link in the new panel.
    var href = opener && opener.getAttribute("href");
    return href ? document.querySelector('a[href="' + href + '"]') : null;
  }

  function closeForm() {
    var slot = document.getElementById(FORM_SLOT);
    if (!slot || !slot.firstElementChild) {
      return false;
    }
    slot.textContent = "";
    var back = openerNow() || document.querySelector("main h1");
    if (back) {
      if (!back.matches("a, button, input, select, textarea")) {
        back.setAttribute("tabindex", "-1");
      }
      back.focus();
    }
    announce("Form closed. Nothing was saved.");
    return true;
  }

  document.addEventListener("click", function (event) {
    var cancel = event.target.closest && event.target.closest("[data-close-form]");
    if (cancel && cancel.closest("#" + FORM_SLOT) && closeForm()) {
      event.preventDefault();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !event.defaultPrevented && event.target.closest &&
        event.target.closest("#" + FORM_SLOT) && closeForm()) {
      event.preventDefault();
    }
  });

  // Status changes are spoken: the messages of a swap go to the live region that is never swapped.
  var announcer = null;
  function announce(text) {
    announcer = announcer || document.getElementById("announcer");
    if (!announcer || !text) {
      return;
    }
    announcer.textContent = "";
    // A fresh text node a moment later, so the same words twice are announced twice.
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  document.addEventListener("htmx:afterSettle", function () {
    var messages = document.getElementById("messages");
    var text = messages ? messages.textContent.replace(/\s+/g, " ").trim() : "";
    if (text) {
      announce(text);
    }
  });
})();

// Copy buttons (the calendar feed URL): shown only where the script can copy.
(function () {
  "use strict";
  function ready() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (navigator.clipboard || document.queryCommandSupported && document.queryCommandSupported("copy")) {
        button.hidden = false;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", ready);
  document.addEventListener("htmx:afterSettle", ready);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var field = document.getElementById(button.dataset.copy);
    if (!field) {
      return;
    }
    var done = function () {
      button.textContent = "Copied";
      var live = document.getElementById("announcer");
      if (live) {
        live.textContent = "The URL was copied.";
      }
    };
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (document.execCommand("copy")) { done(); }
      });
    } else if (document.execCommand("copy")) {
      done();
    }
  });
})();

// The review queue from the keyboard (documented on the page): with the focus on a row, A accepts its
// proof and R opens its reason to reject; after each review the focus moves to the next row's Accept.
// Without this file every row is an ordinary form with an Accept and a Reject button.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented || !event.target.closest) {
      return;
    }
    if (event.target.matches("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && event.target.closest("details.reject")) {
        var open = event.target.closest("details.reject");
        open.open = false;
        open.querySelector("summary").focus();
        event.preventDefault();
      }
      return;
    }
    var row = event.target.closest("tr[data-review-row]");
    var key = (event.key || "").toLowerCase();
    if (!row || (key !== "a" && key !== "r")) {
      return;
    }
    event.preventDefault();
    if (key === "a") {
      row.querySelector("[data-review-accept]").click();
    } else {
      var details = row.querySelector("details.reject");
      details.open = true;
      details.querySelector("[name=reason]").focus();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var done = document.querySelector("tr[data-just-reviewed]");
    if (!done) {
      return;
    }
    done.removeAttribute("data-just-reviewed");
    var next = done.nextElementSibling;
    while (next && !next.matches("tr[data-review-row]")) {
      next = next.nextElementSibling;
    }
    if (!next) {
      var previous = done.previousElementSibling;
      while (previous && !previous.matches("tr[data-review-row]")) {
        previous = previous.previousElementSibling;
      }
      next = previous;
    }
    var target = next ? next.querySelector("[data-review-accept]") : document.querySelector("main h1");
    if (target) {
      if (!next) {
        target.setAttribute("tabindex", "-1");
      }
      target.focus();
    }
  });
})();
