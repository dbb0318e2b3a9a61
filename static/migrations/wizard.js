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

// Source Database: choosing a Source Cluster makes htmx fetch that cluster's databases and
// replace the select. A database picked while that list is on its way is kept when it arrives
// (if the cluster has it; otherwise a note says so) instead of falling back to "default".
(() => {
  let loading = false;
  let picked = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt && event.detail.elt.id === "id_source_cluster") {
      loading = true;
      picked = null;
    }
  });
  document.addEventListener("change", (event) => {
    if (loading && event.target.id === "id_source_db") picked = event.target.value;
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!trigger || trigger.id !== "id_source_cluster") return;
    loading = false;
    const select = document.getElementById("id_source_db");
    if (picked === null || !select) return;
    if (Array.from(select.options).some((option) => option.value === picked)) {
      select.value = picked;
    } else {
      const note = document.createElement("p");
      note.className = "field-error";
      note.setAttribute("role", "alert");
      note.textContent = `Database ${picked} is not in the chosen cluster: pick one of its databases.`;
      select.insertAdjacentElement("afterend", note);
    }
    picked = null;
  });
})();
