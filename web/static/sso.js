// The MWAA console's login link, /aws_mwaa/aws-console-sso?login=true#TOKEN, carries the token in the
// URL's fragment, which browsers never send to a server. This script posts it to /aws_mwaa/login, which
// answers with the session cookie and a redirect to the admin page.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const token = decodeURIComponent(location.hash.replace(/^#/, ""));
  const status = document.getElementById("sso-status");
  if (!token) {
    status.textContent = "This link carries no token after its #: log in at /login instead.";
    status.className = "message error";
    return;
  }
  history.replaceState(null, "", location.pathname + location.search); // the token leaves the address bar
  document.getElementById("token").value = token;
  document.getElementById("sso").submit();
});
