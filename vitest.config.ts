import { configDefaults, defineConfig } from "vitest/config";

/**
 * The tests that need root, lab hosts (systemd-nspawn), network namespaces, a cloud, the Pulumi CLI
 * (scripts/test-prereqs.sh builds it), or the bundles built into dist/. Everything else is the unit project: code and real loopback sockets, which any
 * user can run from a fresh clone without a build (`npm run test:unit`).
 */
const E2E = [
  "bundle",
  "cli-bundle",
  "cloud-init",
  "cloud-smoke",
  "deploy-e2e",
  "first-run",
  "identity-e2e",
  "init-cli",
  "installer-lab",
  "lab",
  "monitoring-lab",
  "monitoring-prometheus",
  "move-e2e",
  "nat",
  "pulumi-engine",
  "rollout-e2e",
  "workers",
].map((name) => `test/${name}.test.ts`);

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default", "./test/support/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...E2E] },
      },
      { extends: true, test: { name: "e2e", include: E2E, globalSetup: ["test/global-setup.ts"] } },
    ],
  },
});
