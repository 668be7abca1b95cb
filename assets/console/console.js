// Knowledge base: the "Imprimer" button of a printable sheet or booklet opens the
// browser's print dialog (no inline script: the console's CSP forbids it).
(() => {
  for (const b of document.querySelectorAll('[data-print]')) {
    b.addEventListener('click', () => window.print());
  }
})();
