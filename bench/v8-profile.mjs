// Run examples/profile_rewrite built for wasm32-wasip1 in Node's V8, the wasm engine Envoy
// runs the filter in, to count the walker's instructions as V8 compiles them:
//
//   cargo build --release --example profile_rewrite --target wasm32-wasip1
//   for n in 1 11; do REPEAT=$n BODY_FILE=/tmp/list.json valgrind --tool=callgrind \
//     --callgrind-out-file=/tmp/v8-$n.out node bench/v8-profile.mjs core-list; done
//
// (instructions of REPEAT=11 minus those of REPEAT=1, over 10: one rewrite of the body, with
// start-up and compilation taken out). Arguments go to the example; BODY_FILE is read from
// the directory it names.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { WASI } from "node:wasi";
import { argv, env } from "node:process";

const wasmPath = resolve(
  dirname(new URL(import.meta.url).pathname),
  "../target/wasm32-wasip1/release/examples/profile_rewrite.wasm",
);
const preopens = {};
if (env.BODY_FILE) {
  preopens[dirname(resolve(env.BODY_FILE))] = dirname(resolve(env.BODY_FILE));
  env.BODY_FILE = resolve(env.BODY_FILE);
}
const wasi = new WASI({
  version: "preview1",
  args: ["profile_rewrite", ...argv.slice(2)],
  env: { BODY_FILE: env.BODY_FILE ?? "", REPEAT: env.REPEAT ?? "1" },
  preopens,
});
const module = await WebAssembly.compile(readFileSync(wasmPath));
// The library's proxy-wasm imports are linked in but never called here.
const imports = wasi.getImportObject();
for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
  if (from !== "wasi_snapshot_preview1" && kind === "function") {
    imports[from] ??= {};
    imports[from][name] = () => {
      throw new Error(`${from}.${name} is not provided`);
    };
  }
}
const instance = await WebAssembly.instantiate(module, imports);
// (The library also exports the proxy-wasm `_initialize`, which WASI's start refuses.)
wasi.start({ exports: { _start: instance.exports._start, memory: instance.exports.memory } });
