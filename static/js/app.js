// Behaviour the Content-Security-Policy allows: scripts from files only, no inline handlers.

// A chat form marked data-reset-after-answer empties itself once htmx has the answer.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.hasAttribute("data-reset-after-answer")
      && event.detail.successful) {
    form.reset();
  }
});
