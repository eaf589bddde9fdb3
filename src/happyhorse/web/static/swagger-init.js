// Starts Swagger UI on /docs (see happyhorse/api/docs_page.py). A file, not an inline
// script: the page's Content-Security-Policy runs scripts from this origin only.
const root = document.getElementById("swagger-ui");
if (window.SwaggerUIBundle) {
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,  // never send the document to the public validator
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
}
