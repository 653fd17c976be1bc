import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

export default {
  preprocess: vitePreprocess(),
  compilerOptions: {
    // The widget's components (src/widget/) are custom elements, compiled as such only by vite.widget.config.ts.
    warningFilter: (warning) => !(warning.code === 'options_missing_custom_element' && /[/\\]?src[/\\]widget[/\\]/.test(warning.filename ?? '')),
  },
};
