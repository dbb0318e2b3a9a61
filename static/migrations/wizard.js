// A busy indicator for the wizard's steps: a step may wait on a slow source for a few
// seconds; show that work is under way instead of a frozen page. Buttons stay enabled (a
// disabled submitter would not send its name/value).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.classList && form.classList.contains("wizard-form")) {
    form.classList.add("is-busy");
    form.setAttribute("aria-busy", "true");
  }
});
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form.is-busy").forEach((form) => {
    form.classList.remove("is-busy");
    form.removeAttribute("aria-busy");
  });
});
