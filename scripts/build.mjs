// Bundles the super peer and the CLI into single files, so a server needs nothing but a Node binary.
import { build } from "esbuild";

const common = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  // CommonJS dependencies (prom-client) call require() for Node built-ins, which ESM output lacks.
  banner: {
    js: 'import { createRequire as __drasylCreateRequire } from "node:module"; const require = __drasylCreateRequire(import.meta.url);',
  },
};

await build({ ...common, entryPoints: ["sp-runtime/daemon/main.ts"], outfile: "dist/drasyl-sp.mjs" });
// The CLI runs from its installed package, so its dependencies (ssh2 with optional native parts) stay in node_modules.
await build({ ...common, entryPoints: ["cli/main.ts"], outfile: "dist/drasyl-deploy.mjs", packages: "external" });
