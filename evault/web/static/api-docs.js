// Swagger UI for the vault's own OpenAPI document; kept out of the page because the CSP forbids inline script.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
