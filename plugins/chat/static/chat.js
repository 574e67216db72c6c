// The wsgate demo chat page: talks the chat plugin's JSON protocol over
// ws(s)://<this host>/ws, and reconnects with backoff when the gateway goes away.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const status = $("status"), online = $("online"), error = $("error"), list = $("messages");
  const joinForm = $("join"), nameInput = $("join-name"), sayForm = $("say"), textInput = $("message-input");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  let ws = null, name = null, backoff = 500, errorTimer = null;

  function line(cls, user, text) {
    const li = document.createElement("li");
    li.className = cls;
    if (user !== null) {
      const who = document.createElement("span");
      who.className = "user";
      who.textContent = user;
      li.append(who);
    }
    li.append(document.createTextNode(text));
    list.append(li);
    list.scrollTop = list.scrollHeight;
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { error.hidden = true; }, 8000);
  }

  function send(object) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(object));
      return true;
    }
    showError("Not connected; reconnecting…");
    return false;
  }

  const handlers = {
    welcome: () => {
      if (name) send({ type: "join", username: name });
      send({ type: "who" });
    },
    join: (m) => { line("system", null, `${m.user} joined`); send({ type: "who" }); },
    leave: (m) => { line("system", null, `${m.user} left`); send({ type: "who" }); },
    message: (m) => line("message", m.user, m.text),
    users: (m) => { online.textContent = `${m.users.length + m.anonymous} online`; },
    error: (m) => showError(m.message),
  };

  function connect() {
    ws = new WebSocket(url);
    ws.onopen = () => {
      backoff = 500;
      status.textContent = "connected";
      status.classList.add("connected");
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      const handle = handlers[message.type];
      if (handle) handle(message);
    };
    ws.onclose = () => {
      status.classList.remove("connected");
      const wait = Math.round(backoff * (0.75 + Math.random() / 2));
      status.textContent = `disconnected; reconnecting in ${(wait / 1000).toFixed(1)} s`;
      online.textContent = "– online";
      setTimeout(connect, wait);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = nameInput.value.trim();
    if (wanted && send({ type: "join", username: wanted })) {
      name = wanted;
      nameInput.disabled = true;
      $("join-button").disabled = true;
    }
  });

  sayForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textInput.value;
    if (text && send({ type: "message", text })) textInput.value = "";
  });

  connect();
})();
