import { defaultClientConditions, defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The web app is built once into dist/ and served by the coordinator on the same origin as the API,
// the model files and onnxruntime-web's wasm (/ort/). `npm run dev` proxies those to a running coordinator.
const coordinator = `http://127.0.0.1:${process.env.PORT ?? 8787}`;

export default defineConfig({
  plugins: [svelte()],
  // onnxruntime-web's build that loads its wasm glue and binary from `ort.env.wasm.wasmPaths` (/ort/, served by
  // the coordinator from node_modules) instead of having them bundled: one copy on disk, and thread workers load
  // ORT's own script rather than our worker bundle.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
  worker: { format: 'es' },
  server: {
    headers: {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    },
    proxy: {
      '/v1': coordinator,
      '/api': coordinator,
      '/models': coordinator,
      '/ort': coordinator,
      '/tabs': { target: coordinator.replace('http', 'ws'), ws: true },
    },
  },
});
