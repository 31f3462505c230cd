// Swagger UI over the live /openapi.json. "Authorize" takes an API key, a bearer token or basic
// credentials; a key or token the dashboard signed in with is used until then.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: false,
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      var saved = sessionStorage.getItem("credential");
      var headers = request.headers || {};
      if (saved && !headers["Authorization"] && !headers["X-API-Key"]) {
        var credential = JSON.parse(saved);
        if (credential.kind === "token") headers["Authorization"] = "Bearer " + credential.value;
        else headers["X-API-Key"] = credential.value;
      }
      request.headers = headers;
      return request;
    },
  });
});
