import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const unit = new URL("../packaging/systemd/fleetwall-agent.service", import.meta.url).pathname;

describe("packaging/systemd/fleetwall-agent.service", () => {
  it("passes systemd-analyze verify", () => {
    // verify resolves ExecStart binaries: check the unit as installed, with fleetwall at /usr/bin
    const text = readFileSync(unit, "utf8").replaceAll("/usr/bin/fleetwall", "/bin/true");
    const tmp = `/tmp/fleetwall-agent-verify-${process.pid}.service`;
    execFileSync("sh", ["-c", `cat > ${tmp}`], { input: text });
    try {
      const out = execFileSync("systemd-analyze", ["verify", tmp], { stdio: ["ignore", "pipe", "pipe"] }).toString();
      expect(out).toBe("");
    } finally {
      execFileSync("rm", ["-f", tmp]);
    }
  });

  it("grants only CAP_NET_ADMIN and CAP_NET_RAW, keeps state in its StateDirectory, restores at boot", () => {
    const text = readFileSync(unit, "utf8");
    expect(text).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW$/m);
    expect(text).toMatch(/^ProtectSystem=strict$/m);
    expect(text).toMatch(/^StateDirectory=fleetwall$/m);
    expect(text).toMatch(/^ExecStartPre=\/usr\/bin\/fleetwall agent --boot /m);
    expect(text).toMatch(/^NoNewPrivileges=yes$/m);
  });
});

describe("Dockerfile", () => {
  // No container runtime on the test machines: the image is not built here. These checks keep the
  // Dockerfile in step with the repository's layout.
  const text = readFileSync(new URL("../Dockerfile", import.meta.url), "utf8");
  const repo = new URL("..", import.meta.url).pathname;
  const workspaces = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { workspaces: string[] }).workspaces;

  it("copies sources that exist, and every workspace's package.json before npm ci", () => {
    const build = text.split(/^FROM /m)[1] as string;
    const sources = [...build.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(" "));
    for (const s of sources) expect(existsSync(`${repo}/${s}`), s).toBe(true);
    for (const w of workspaces) expect(build.indexOf(`COPY ${w}/package.json`), w).toBeLessThan(build.indexOf("RUN npm ci"));
  });

  it("ships the bundle and nft, runs as non-root and starts the bundled CLI", () => {
    const build = text.split(/^FROM /m)[1] as string;
    const runtime = text.split(/^FROM /m)[2] as string;
    expect(build).toContain("RUN npx tsc -b cli && node scripts/bundle.mjs");
    expect(runtime).toContain("COPY --from=build /src/dist/ /app/");
    expect(runtime).not.toContain("node_modules");
    expect(runtime).toMatch(/apt-get install -y --no-install-recommends nftables/);
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    expect(runtime).toContain('ENTRYPOINT ["node", "/app/fleetwall.mjs"]');
  });
});

describe("the bundle (dist/fleetwall.mjs)", () => {
  it("runs with nothing but itself: every chunk loads, and a command works, from a directory without node_modules", () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetwall-bundle-"));
    try {
      cpSync(new URL("../dist/", import.meta.url).pathname, dir, { recursive: true });
      const chunks = readdirSync(join(dir, "chunks")).filter((f) => f.endsWith(".mjs"));
      expect(chunks.length).toBeGreaterThan(3);
      // each chunk's top level runs: a dependency left out of the bundle fails here, not in production
      const load = `for (const f of ${JSON.stringify(chunks)}) await import("./chunks/" + f);`;
      execFileSync("node", ["--input-type=module", "-e", load], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      const policy = new URL("../examples/web-server.yaml", import.meta.url).pathname;
      const out = execFileSync("node", [join(dir, "fleetwall.mjs"), "render", "-f", policy, "--labels", "role=web"], { cwd: dir }).toString();
      expect(out).toContain("table inet fleetwall");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
