// Build and dev-server configuration. `npm run dev` proxies the API, socket.io and /client-config.json to a
// running plaza (PLAZA_URL, default http://127.0.0.1:3000), so the dev client is same-origin like `all` mode.
import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

const plaza = process.env.PLAZA_URL ?? 'http://127.0.0.1:3000'

export default defineConfig({
  plugins: [vue()],
  define: {
    __VUE_OPTIONS_API__: false,
    __VUE_PROD_DEVTOOLS__: false,
    __VUE_I18N_FULL_INSTALL__: false,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __INTLIFY_DROP_MESSAGE_COMPILER__: true,
  },
  server: {
    proxy: {
      '/api/socket.io': { target: plaza, ws: true },
      '/api': { target: plaza },
      '/client-config.json': { target: plaza },
    },
  },
  build: { target: 'es2020', assetsInlineLimit: 0, reportCompressedSize: true },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
  },
})
