// agent-secret-store dashboard: live updates and confirmations. Shipped as a file (the CSP
// allows no inline script). It never builds markup from data: the server renders escaped HTML
// and this script only swaps the server's own live region in, or sets textContent.
'use strict';

(function () {
  var main = document.getElementById('main');
  var dialog = document.getElementById('confirm');

  // Confirmations: a form with data-confirm asks first, in a modal <dialog>.
  var pendingForm = null;
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.dataset.confirmed === 'yes') return;
    if (!dialog || typeof dialog.showModal !== 'function') return; // no <dialog>: submit as is
    event.preventDefault();
    pendingForm = form;
    document.getElementById('confirm-text').textContent = form.dataset.confirm;
    document.getElementById('confirm-yes').textContent = form.dataset.confirmYes || 'Confirm';
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('confirm-no').focus();
  });
  if (dialog) {
    dialog.addEventListener('close', function () {
      var form = pendingForm;
      pendingForm = null;
      if (form && dialog.returnValue === 'yes') {
        form.dataset.confirmed = 'yes';
        form.requestSubmit ? form.requestSubmit() : form.submit();
        return;
      }
      if (form) {
        var button = form.querySelector('button');
        if (button) button.focus();
      }
      if (stale) refresh();
    });
  }

  // Live: the server says "change"; the page fetches its own live region again.
  var source = main && main.dataset.live;
  if (!source || !window.EventSource || !window.fetch) return;
  var stale = false;
  var inFlight = false;

  function busy() {
    if (dialog && dialog.open) return true;
    var active = document.activeElement;
    // Do not pull a half-typed form from under the user.
    return !!(active && main.contains(active) && (active.tagName === 'INPUT' || active.tagName === 'TEXTAREA' || active.tagName === 'SELECT') && active.value);
  }

  function refresh() {
    if (busy()) {
      stale = true;
      return;
    }
    if (inFlight) {
      stale = true;
      return;
    }
    stale = false;
    inFlight = true;
    var url = new URL(window.location.href);
    // `done` stays: the region comes back with the notice of what the person just did
    // ("Approved"), which a refresh must not wipe while they are still reading the page.
    url.searchParams.set('partial', '1');
    fetch(url.toString(), { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/dashboard/sign-in');
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (text === null || text === undefined) return;
        // The person started something while this was loading (a confirmation is open, or they
        // are typing): swapping now would detach the form the dialog is about to submit, and
        // the "Yes" would do nothing. Keep the page; refresh once they are done.
        if (busy()) {
          stale = true;
          return;
        }
        var focusedId = document.activeElement && document.activeElement.id;
        var focusedAction = document.activeElement && document.activeElement.closest && document.activeElement.closest('form') && document.activeElement.closest('form').getAttribute('action');
        var parsed = new DOMParser().parseFromString('<main>' + text + '</main>', 'text/html').body.firstElementChild;
        if (!parsed) return;
        main.replaceChildren.apply(main, Array.prototype.slice.call(parsed.childNodes));
        var again = (focusedId && document.getElementById(focusedId)) ||
          (focusedAction && main.querySelector('form[action="' + CSS.escape(focusedAction) + '"] button'));
        if (again) again.focus();
        main.setAttribute('data-updated', String(Date.now()));
      })
      .catch(function () { stale = true; })
      .then(function () {
        inFlight = false;
        if (stale && !busy()) refresh();
      });
  }

  var events = new EventSource(source);
  events.addEventListener('change', refresh);
  events.addEventListener('ready', function () {
    main.setAttribute('data-live-ready', 'yes');
  });
  main.addEventListener('focusout', function () {
    if (stale) setTimeout(function () { if (stale) refresh(); }, 0);
  });
})();
