// The researcher page: a chosen study file is read into the study's text box (nothing is sent until submit).
(function () {
  "use strict";
  const input = document.querySelector("[data-study-file]");
  const text = document.getElementById("study-text");
  if (!input || !text) return;
  input.addEventListener("change", function () {
    const file = input.files && input.files[0];
    if (!file) return;
    file.text().then(function (body) {
      text.value = body;
      text.focus();
    });
  });
})();
