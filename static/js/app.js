// Behaviour the Content-Security-Policy allows: scripts from files only, no inline handlers.

// A chat form marked data-reset-after-answer empties itself once htmx has the answer.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-after-answer")
      && event.detail.successful) {
    form.reset();
  }
});

document.documentElement.classList.add("js");

// On phones the header's menu opens and closes with its "Menu" button.
document.addEventListener("click", (event) => {
  const toggle = event.target instanceof Element ? event.target.closest(".menu-toggle") : null;
  if (!toggle) return;
  const menu = document.getElementById(toggle.getAttribute("aria-controls"));
  const open = toggle.getAttribute("aria-expanded") !== "true";
  toggle.setAttribute("aria-expanded", String(open));
  menu?.classList.toggle("open", open);
});

// Each cell of a table gets its column's heading as data-label: on phones the rows stack and
// the stylesheet shows the heading above each value.
function labelTableCells(root) {
  const tables = root instanceof Element && root.matches("table.table") ? [root] : root.querySelectorAll("table.table");
  tables.forEach((table) => {
    const headings = Array.from(table.querySelectorAll("thead th"), (th) => th.textContent.trim());
    if (!headings.length) return;
    table.querySelectorAll("tbody tr").forEach((row) => {
      Array.from(row.cells).forEach((cell, index) => {
        if (headings[index] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", headings[index]);
        }
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", () => labelTableCells(document));
document.addEventListener("htmx:afterSwap", (event) => labelTableCells(event.target));
