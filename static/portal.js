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
      input.setAttribute("aria-describedby", box.id);
    } else if (file) {
      box.textContent = "";
      box.hidden = true;
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  });
})();
