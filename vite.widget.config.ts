import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

/**
 * widget.js: the embeddable <dolphin-chat> and window.Dolphin (src/widget/), one self-contained IIFE with its CSS
 * inside the custom element's shadow root, written beside the app in dist/ (run after the app's build, which
 * empties dist/). Only the widget's own components compile as custom elements.
 */
export default defineConfig({
  plugins: [
    svelte({
      dynamicCompileOptions: ({ filename }) => (/[/\\]src[/\\]widget[/\\]/.test(filename) ? { customElement: true } : undefined),
    }),
  ],
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: false,
    copyPublicDir: false,
    lib: { entry: 'src/widget/widget.ts', formats: ['iife'], name: 'DolphinWidget', fileName: () => 'widget.js' },
  },
});
