// Progressive enhancement only: every page works without this file.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  // The language selector submits itself on change; its button stays for browsers without JavaScript.
  for (const select of document.querySelectorAll('select[data-autosubmit]')) {
    const form = select.form;
    if (!form) continue;
    for (const button of form.querySelectorAll('[data-hide-with-js]')) button.hidden = true;
    select.addEventListener('change', () => form.requestSubmit ? form.requestSubmit() : form.submit());
  }
  // A copy button beside pull commands and one-time secrets, labelled from data attributes (localized by the server).
  if (!navigator.clipboard) return;
  for (const code of document.querySelectorAll('code[data-copy]')) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary small copy-button';
    button.textContent = code.dataset.copyLabel || 'Copy';
    button.addEventListener('click', () => {
      navigator.clipboard.writeText(code.textContent || '').then(() => {
        button.textContent = code.dataset.copiedLabel || 'Copied';
        setTimeout(() => { button.textContent = code.dataset.copyLabel || 'Copy'; }, 1500);
      });
    });
    code.after(button);
  }
});
