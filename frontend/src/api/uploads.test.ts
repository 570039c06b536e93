import { describe, expect, it } from "vitest";
import { apiError, FakeApi } from "../test/fakeApi";
import { ApiClient, memorySessionStore } from "./client";
import { checkFile, declaredType, uploadFile } from "./uploads";

const csv = () => new File(["month,sales\nJan,10\n"], "sales.csv", { type: "" });

function setup(complete: Parameters<FakeApi["on"]>[1]) {
  const fake = new FakeApi(null)
    .on("POST /v1/files", (r) => ({
      status: 201,
      body: {
        file: { id: "01FILE", name: (r.body as { name: string }).name, status: "pending" },
        upload: { url: "http://dashboard.test/_s3/bucket", fields: { key: "k", policy: "p" }, expires_in_s: 900 },
      },
    }))
    .on("POST /_s3/bucket", { status: 204 })
    .on("POST /v1/files/:id/complete", complete);
  const api = new ApiClient("", memorySessionStore({ accessToken: "t", refreshToken: null, expiresAt: null, kind: "api_key" }), fake.fetch);
  return { fake, api };
}

describe("file checks before upload", () => {
  it("derives the type from the extension when the browser gives none", () => {
    expect(declaredType(csv())).toBe("text/csv");
    expect(declaredType(new File(["x"], "photo.JPG", { type: "" }))).toBe("image/jpeg");
    expect(declaredType(new File(["x"], "doc.pdf", { type: "application/pdf" }))).toBeNull();
  });

  it("refuses empty, oversized and unsupported files with a sentence that names them", () => {
    expect(checkFile(new File([], "empty.csv"))).toBe("empty.csv is empty.");
    expect(checkFile(new File(["12345"], "big.csv"), 4)).toMatch(/^big.csv is 5 B; files are limited to 4 B/);
    expect(checkFile(new File(["%PDF"], "report.pdf", { type: "application/pdf" }))).toMatch(/only PNG, JPEG/);
    expect(checkFile(csv())).toBeNull();
  });
});

describe("uploadFile", () => {
  it("declares the file, posts the form with the file last, then completes it", async () => {
    const { fake, api } = setup({ body: { id: "01FILE", name: "sales.csv", status: "ready", content_type: "text/csv" } });
    const record = await uploadFile(api, csv());
    expect(record.status).toBe("ready");
    expect(fake.calls("POST", "/v1/files")[0].body).toEqual({ name: "sales.csv", content_type: "text/csv", size: 19 });
    const form = fake.calls("POST", "/_s3/bucket")[0].body as FormData;
    expect([...form.keys()]).toEqual(["key", "policy", "file"]);
    expect(fake.calls("POST", "/v1/files/01FILE/complete")).toHaveLength(1);
  });

  it("passes on the server's reason when it rejects what was uploaded", async () => {
    const { api } = setup(apiError(422, "unsupported_file_type", "sales.csv: the content is a PDF document"));
    await expect(uploadFile(api, csv())).rejects.toThrow("sales.csv: the content is a PDF document");
  });

  it("does not contact the server for a file it can already refuse", async () => {
    const { fake, api } = setup({ body: {} });
    await expect(uploadFile(api, new File(["x"], "a.exe"))).rejects.toThrow(/only PNG/);
    expect(fake.requests).toHaveLength(0);
  });
});
