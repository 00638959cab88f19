/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the UI on :5173 and proxies the API to a running
// `vispyr serve` (VISPYR_URL, default http://localhost:4040).
const target = process.env.VISPYR_URL ?? 'http://localhost:4040';
const proxied = ['/api', '/prometheus', '/loki', '/tempo', '/pyroscope', '/ready'];

export default defineConfig({
  plugins: [react()],
  server: { proxy: Object.fromEntries(proxied.map((p) => [p, { target, changeOrigin: true }])) },
  build: { outDir: 'dist', sourcemap: false, chunkSizeWarningLimit: 600 },
  test: { environment: 'jsdom', include: ['src/**/*.test.ts', 'src/**/*.test.tsx'] },
});
