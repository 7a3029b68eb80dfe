// Starts Swagger UI on the element that names the OpenAPI document (api/docs.py). A file
// of its own, served by genflow, so the page's Content-Security-Policy allows no inline
// script. URLs are relative to the page, so the docs work under any path prefix.
"use strict";

(function () {
  var root = document.getElementById("swagger-ui");
  var page = document.baseURI;
  window.ui = SwaggerUIBundle({
    url: new URL(root.dataset.openapiUrl || "openapi.json", page).href,
    oauth2RedirectUrl: new URL(root.dataset.oauth2RedirectUrl || "docs/oauth2-redirect", page)
      .href,
    domNode: root,
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Its default sends the document's URL to validator.swagger.io for a badge.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
