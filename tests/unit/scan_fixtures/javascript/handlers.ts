import * as fs from "fs";
import express from "express";
import { Controller, Get } from "@nestjs/common";

const app = express();

app.get("/config", (req, res) => {
  res.send(fs.readFileSync("config.json", "utf8")); // expect: sync-file-io-in-handler
});

function save(request: unknown, response: { end(): void }) {
  fs.writeFileSync("out.json", "{}"); // expect: sync-file-io-in-handler
  response.end();
}

app.post("/save", save);

@Controller("files")
export class FilesController {
  @Get(":name")
  read(): string {
    return fs.readFileSync("a.txt", "utf8"); // expect: sync-file-io-in-handler
  }

  helper(): string {
    return fs.readFileSync("b.txt", "utf8");
  }
}

export function GET(): string {
  return fs.readFileSync("c.txt", "utf8"); // expect: sync-file-io-in-handler
}

const startup = fs.readFileSync("startup.txt", "utf8");

app.get("/async", async (req, res) => {
  res.send(await fs.promises.readFile("config.json", "utf8"));
});

export { save, startup };
