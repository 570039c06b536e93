import express from "express";
import fs from "node:fs";

export function createApp(templatePath) {
  const app = express();
  app.get("/", (request, response) => {
    const template = fs.readFileSync(templatePath, "utf8");
    response.type("html").send(template.replace("{{name}}", request.query.name ?? "world"));
  });
  return app;
}
