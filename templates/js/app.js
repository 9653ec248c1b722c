// {{name}}: a Tessera HTTP component in JavaScript, built with ComponentizeJS.

addEventListener("fetch", (event) =>
  event.respondWith(
    (async () => {
      const url = new URL(event.request.url);
      return new Response(`Hello from {{name}} (JavaScript)! You asked for ${url.pathname}\n`, {
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    })(),
  ),
);
