// Every request goes through here: a 401 opens the login form, and after a successful
// login the page re-renders. The session cookie then carries the key (EventSource can't send headers).
let onLogin = () => {};

export class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export async function request(path, options = {}) {
  const init = { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.body = JSON.stringify(options.json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) {
    showLogin();
    throw new HttpError(401, null);
  }
  const text = await resp.text();
  const body = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new HttpError(resp.status, body);
  return body;
}

export function showLogin(message = "") {
  const dialog = document.getElementById("login");
  document.getElementById("login-error").textContent = message;
  if (!dialog.open) dialog.showModal();
}

export function initLogin(afterLogin) {
  onLogin = afterLogin;
  document.getElementById("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = document.getElementById("key").value.trim();
    const resp = await fetch("/session", { method: "POST", headers: { "Content-Type": "application/json" },
                                            body: JSON.stringify({ key }) });
    if (!resp.ok) {
      showLogin(resp.status === 401 ? "That key is not valid." : `Login failed (HTTP ${resp.status}).`);
      return;
    }
    document.getElementById("login").close();
    document.getElementById("logout").hidden = false;
    onLogin();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/session", { method: "DELETE" });
    document.getElementById("logout").hidden = true;
    showLogin();
  });
}
