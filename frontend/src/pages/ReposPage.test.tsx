import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router-dom";
import { describe, expect, it } from "vitest";
import { App } from "../App";
import { agent, apiError, FakeApi, renderWithApi, repo, REPO_ID, run, serveRepos } from "../test/fakeApi";
import { ReposPage } from "./ReposPage";

function pages(fake: FakeApi) {
  return renderWithApi(
    <Routes>
      <Route path="/repos" element={<ReposPage />} />
      <Route path="/repos/:repoId" element={<p>repo page</p>} />
    </Routes>,
    fake,
    { path: "/repos" },
  );
}

/** One input event per field, as a paste. */
async function fill(user: ReturnType<typeof userEvent.setup>, label: string | RegExp, text: string) {
  const field = screen.getByLabelText(label);
  await user.clear(field);
  await user.click(field);
  await user.paste(text);
}

describe("repos list", () => {
  it("shows each repository's URL, default branch and last run; a viewer cannot connect one", async () => {
    const fake = serveRepos(new FakeApi("viewer"), {
      repos: [repo({ last_run_id: "01RUN00000000000000000000A", has_credentials: true }), repo({ id: "01REPO000000000000000000C", name: "slowmath", default_branch: "trunk" })],
    });
    pages(fake);
    const first = (await screen.findByRole("link", { name: "fastmath" })).closest("tr")!;
    expect(within(first).getByText("https://github.com/acme/fastmath.git")).toBeTruthy();
    expect(within(first).getByText("token")).toBeTruthy();
    expect(within(first).getByRole("link", { name: "01RUN00000000000000000000A" }).getAttribute("href")).toBe("/runs/01RUN00000000000000000000A");
    expect(screen.getByRole("link", { name: "fastmath" }).getAttribute("href")).toBe(`/repos/${REPO_ID}`);
    const second = screen.getByRole("link", { name: "slowmath" }).closest("tr")!;
    expect(within(second).getByText("trunk")).toBeTruthy();
    expect(within(second).queryByText("token")).toBeNull();
    expect(screen.queryByRole("button", { name: "Connect repository" })).toBeNull();
    expect(screen.getByText("An operator or admin can connect repositories.")).toBeTruthy();
  });

  it("says when there are none yet", async () => {
    pages(serveRepos(new FakeApi("operator"), { repos: [] }));
    expect(await screen.findByText(/No repositories connected yet/)).toBeTruthy();
  });

  it("follows the cursor for more repositories", async () => {
    const fake = new FakeApi("viewer").on("GET /v1/repos", (request) =>
      request.query.get("cursor")
        ? { body: { items: [repo({ id: "01REPO000000000000000000C", name: "older" })], next_cursor: null } }
        : { body: { items: [repo()], next_cursor: "c1" } },
    );
    pages(fake);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Load more repositories" }));
    expect(await screen.findByRole("link", { name: "older" })).toBeTruthy();
    expect(fake.calls("GET", "/v1/repos")[1].query.get("cursor")).toBe("c1");
    expect(screen.queryByRole("button", { name: "Load more repositories" })).toBeNull();
  });
});

describe("connect form", () => {
  it("connects with every field and opens the new repository", async () => {
    const fake = serveRepos(new FakeApi("operator"), { repos: [] });
    pages(fake);
    const user = userEvent.setup();
    await screen.findByText(/No repositories connected yet/);
    await fill(user, "Clone URL", "https://github.com/acme/private.git");
    expect(screen.getByLabelText("Name (optional)").getAttribute("placeholder")).toBe("private");
    await fill(user, "Default branch (optional)", "develop");
    await fill(user, "Name (optional)", "private-math");
    await fill(user, /Access token/, "ghp_secret");
    expect(screen.getByLabelText(/Access token/).getAttribute("type")).toBe("password");
    await user.click(screen.getByRole("button", { name: "Connect repository" }));
    expect(await screen.findByText("repo page")).toBeTruthy();
    expect(fake.calls("POST", "/v1/repos")[0].body).toEqual({
      url: "https://github.com/acme/private.git",
      default_branch: "develop",
      name: "private-math",
      credentials: { token: "ghp_secret" },
    });
  });

  it("sends only the URL when nothing else is given", async () => {
    const fake = serveRepos(new FakeApi("operator"), { repos: [] });
    pages(fake);
    const user = userEvent.setup();
    await screen.findByText(/No repositories connected yet/);
    await fill(user, "Clone URL", "  https://github.com/acme/fastmath.git ");
    await user.click(screen.getByRole("button", { name: "Connect repository" }));
    await screen.findByText("repo page");
    expect(fake.calls("POST", "/v1/repos")[0].body).toEqual({ url: "https://github.com/acme/fastmath.git" });
  });

  it("shows why the server refused the URL under the URL field, and keeps the form", async () => {
    const fake = serveRepos(new FakeApi("operator"), { repos: [] }).on(
      "POST /v1/repos",
      apiError(422, "repo_unreachable", "git ls-remote failed: repository not found"),
    );
    pages(fake);
    const user = userEvent.setup();
    await screen.findByText(/No repositories connected yet/);
    await fill(user, "Clone URL", "https://github.com/acme/missing.git");
    await user.click(screen.getByRole("button", { name: "Connect repository" }));
    const reason = await screen.findByText("git ls-remote failed: repository not found");
    const url = screen.getByLabelText("Clone URL");
    expect(url.getAttribute("aria-invalid")).toBe("true");
    expect(url.getAttribute("aria-describedby")).toBe(reason.id);
    expect((url as HTMLInputElement).value).toBe("https://github.com/acme/missing.git");
    // Typing again clears the server's answer.
    await user.type(url, "x");
    expect(screen.queryByText("git ls-remote failed: repository not found")).toBeNull();
  });

  it("asks for a URL before sending anything", async () => {
    const fake = serveRepos(new FakeApi("operator"), { repos: [] });
    pages(fake);
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Connect repository" }));
    expect(screen.getByText("Give the repository's clone URL.")).toBeTruthy();
    expect(fake.calls("POST", "/v1/repos")).toHaveLength(0);
  });
});

describe("navigation", () => {
  it("shows Repos in the main navigation to a reader and opens the list", async () => {
    const fake = serveRepos(new FakeApi("viewer"))
      .on("GET /v1/agents", { body: { items: [agent()], next_cursor: null } })
      .on("GET /v1/runs", { body: { items: [run({ status: "succeeded" })], next_cursor: null } });
    renderWithApi(<App />, fake, { gate: false });
    const nav = await screen.findByRole("navigation", { name: "Main" });
    await userEvent.setup().click(within(nav).getByRole("link", { name: "Repos" }));
    expect(await screen.findByRole("heading", { name: "Repos" })).toBeTruthy();
    expect(await screen.findByRole("link", { name: "fastmath" })).toBeTruthy();
  });
});
