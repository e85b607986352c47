/*! Mailkey embed: put one account's mailbox connection in your page.
 *
 *   <div id="mailbox"></div>
 *   <script src="https://mailkey.example.com/embed.js"></script>
 *   <script>
 *     Mailkey.open({
 *       container: document.getElementById("mailbox"),   // or mode: "overlay"
 *       fetchSessionToken: () => fetch("/your-backend/mailkey-session").then(r => r.json())
 *                                  .then(s => s.launch_token),
 *       onEvent: (e) => console.log(e.type, e),             // ready, connected, ...
 *     });
 *   </script>
 *
 * fetchSessionToken asks your backend for a new connect session (POST /api/v1/connect-sessions
 * with your API key, never in the browser) and returns its launch_token; it is called again when
 * a session expires. Events: ready, resize, step_changed, signed_in, test_passed, test_failed
 * (code), connected (account_id, external_id), error (code; session_revoked when your backend
 * revoked the session: no new one is asked for), session_expired, closed. Messages
 * are accepted only from Mailkey's origin and this frame; Mailkey's go only to your origin.
 * No dependencies, no cookies. */
(function () {
  "use strict";
  var script = document.currentScript;
  var ORIGIN = script ? new URL(script.src).origin : "";

  function open(options) {
    var o = options || {};
    if (typeof o.fetchSessionToken !== "function") {
      throw new Error("Mailkey.open needs fetchSessionToken: a function returning a launch token");
    }
    var onEvent = typeof o.onEvent === "function" ? o.onEvent : function () {};
    var overlay = o.mode === "overlay" || !o.container;
    var frame = document.createElement("iframe");
    var holder = o.container;
    var refetches = [];
    var closed = false;

    frame.title = o.title || "Connect your mailbox";
    frame.style.cssText = "width:100%;border:0;display:block;min-height:320px;";
    frame.setAttribute("allow", "clipboard-write");

    if (overlay) {
      holder = document.createElement("div");
      holder.setAttribute("role", "dialog");
      holder.setAttribute("aria-modal", "true");
      holder.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.45);" +
        "display:flex;align-items:flex-start;justify-content:center;overflow:auto;padding:4vh 12px;";
      var box = document.createElement("div");
      box.style.cssText = "position:relative;background:#fff;border-radius:12px;width:100%;max-width:560px;";
      var x = document.createElement("button");
      x.type = "button";
      x.setAttribute("aria-label", "Close");
      x.textContent = "\u00d7";
      x.style.cssText = "position:absolute;top:4px;right:8px;border:0;background:none;font-size:24px;cursor:pointer;";
      x.onclick = function () { handle.close(); };
      box.appendChild(x);
      box.appendChild(frame);
      holder.appendChild(box);
      document.body.appendChild(holder);
    } else {
      holder.appendChild(frame);
    }

    function emit(e) {
      try { onEvent(e); } catch (err) { setTimeout(function () { throw err; }); }
    }

    // A new session, at most three times a minute (a host whose backend keeps failing must not
    // spin).
    function launch() {
      var now = Date.now();
      refetches = refetches.filter(function (t) { return now - t < 60000; });
      if (refetches.length >= 3) {
        emit({ type: "error", code: "too_many_sessions" });
        return;
      }
      refetches.push(now);
      Promise.resolve(o.fetchSessionToken()).then(function (t) {
        var token = t && typeof t === "object" ? t.launch_token : t;
        if (closed) return;
        if (typeof token !== "string" || !token) {
          emit({ type: "error", code: "no_session_token" });
          return;
        }
        frame.src = ORIGIN + "/embed/" + encodeURIComponent(token);
      }, function () {
        emit({ type: "error", code: "no_session_token" });
      });
    }

    function onMessage(ev) {
      if (ev.origin !== ORIGIN || ev.source !== frame.contentWindow) return;
      var d = ev.data;
      if (!d || d.source !== "mailkey" || typeof d.type !== "string") return;
      answered = true;
      if (d.type === "ready") {
        frame.contentWindow.postMessage({ type: "mailkey:hello" }, ORIGIN);
      } else if (d.type === "resize" && typeof d.height === "number") {
        frame.style.height = Math.max(120, Math.min(d.height, 10000)) + "px";
      }
      var e = {};
      for (var k in d) if (k !== "source") e[k] = d[k];
      emit(e);
      if (d.type === "session_expired" ||
          (d.type === "error" && (d.code === "launch_token_used" || d.code === "session_expired"))) {
        launch();
      }
    }

    // The frame learns its parent's origin from the parent's hello (browsers without
    // location.ancestorOrigins, several allowed origins): said on each load until it answers.
    var answered = false;
    frame.addEventListener("load", function () {
      answered = false;
      var tries = 0;
      (function hello() {
        if (answered || closed || tries++ > 40 || !frame.contentWindow) return;
        frame.contentWindow.postMessage({ type: "mailkey:hello" }, ORIGIN);
        setTimeout(hello, 250);
      })();
    });
    window.addEventListener("message", onMessage);
    var handle = {
      frame: frame,
      close: function () {
        if (closed) return;
        closed = true;
        window.removeEventListener("message", onMessage);
        if (overlay) holder.remove(); else frame.remove();
        emit({ type: "closed" });
      }
    };
    launch();
    return handle;
  }

  window.Mailkey = { open: open, origin: ORIGIN };
})();
