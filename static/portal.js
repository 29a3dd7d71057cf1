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
      p.textContent = "The file " + file.name + " is larger than " +
        Math.round(limit / 1048576) + " MB. Choose a smaller PDF, PNG or JPEG.";
      box.appendChild(p);
      box.hidden = false;
    } else if (file) {
      box.textContent = "";
      box.hidden = true;
    }
  });
})();
