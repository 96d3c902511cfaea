// Logs in without leaving the page, so that the URL asked for (a bookmarked
// incident, #/incidents/ID) opens once the session cookie is set. Without
// script the form posts the classic way and lands on the incident list.
const form = document.getElementById('login');
const err = document.getElementById('login-error');

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  err.hidden = true;
  const body = new URLSearchParams(new FormData(form));
  let res;
  try {
    res = await fetch('/login', {
      method: 'POST', body, credentials: 'same-origin',
      headers: { 'Accept': 'application/json' },
    });
  } catch (e) {
    err.textContent = 'kaudit could not be reached: ' + e.message;
    err.hidden = false;
    return;
  }
  if (res.status === 204) {
    if (location.pathname === '/login') location.replace('/' + location.hash);
    else location.reload();
    return;
  }
  let msg = 'That token is not an analyst token.';
  try { msg = (await res.json()).error || msg; } catch { /* keep the default */ }
  err.textContent = msg;
  err.hidden = false;
  form.token.select();
});
