/**
 * Builds the app shell's service worker into a finished web build (`dist` by default): bundles src/sw.ts into one
 * classic script, `<outDir>/sw.js`, then has workbox-build list the shell's files with their revisions in it
 * (`self.__WB_MANIFEST`). Run after `vite build`, since the list is what that build wrote.
 */
import { build } from 'vite';
import { injectManifest } from 'workbox-build';
import { join } from 'node:path';

const outDir = process.argv[2] ?? 'dist';
const swPath = join(outDir, 'sw.js');

await build({
  configFile: false,
  logLevel: 'warn',
  build: {
    outDir,
    emptyOutDir: false,
    copyPublicDir: false,
    target: 'es2022',
    minify: true,
    lib: { entry: 'src/sw.ts', formats: ['iife'], name: 'dolphinServiceWorker', fileName: () => 'sw.js' },
  },
  define: { 'process.env.NODE_ENV': '"production"' },
});

const { count, size, warnings } = await injectManifest({
  swSrc: swPath,
  swDest: swPath,
  globDirectory: outDir,
  // The shell: the page, its scripts and styles, the inference worker's bundle, the icon. Not widget.js (other
  // sites load it from the network) and not the service worker itself.
  globPatterns: ['index.html', 'assets/**/*.{js,css}', '*.svg'],
  globIgnores: ['sw.js', 'widget.js'],
  // Hashed file names change with their content: no revision needed for them.
  dontCacheBustURLsMatching: /^assets\/.+-[\w-]{8,}\.\w+$/,
  maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
});
for (const warning of warnings) console.warn(`service worker: ${warning}`);
console.log(`service worker: ${swPath} precaches ${count} files, ${(size / 1024).toFixed(0)} KiB`);
